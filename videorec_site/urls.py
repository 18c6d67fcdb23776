from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ingestion.apis import RatingCreateApi
from recommender.apis import HealthApi, ReadinessApi, RecommendApi, ServiceInfoApi

urlpatterns = [
    path("", ServiceInfoApi.as_view(), name="service-info"),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("readyz", ReadinessApi.as_view(), name="readyz"),
    path("recommend/<str:user_id>", RecommendApi.as_view(), name="recommend"),
    path("api/recommend/<str:user_id>", RecommendApi.as_view(), name="api-recommend"),
    path("api/ratings/", RatingCreateApi.as_view(), name="rating-create"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
