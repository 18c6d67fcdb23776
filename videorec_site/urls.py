from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from common.monitoring import metrics_view
from experiments.apis.events import EventsApi
from experiments.apis.experiments import (
    ExperimentDetailApi,
    ExperimentListCreateApi,
    ExperimentResultsApi,
    ExperimentStartApi,
    ExperimentStopApi,
)
from ingestion.apis import MovieViewSet, RatingCreateApi, ViewerDetailApi
from recommender.admin.dashboard import dashboard_view
from recommender.apis.model_runs import ModelRunDetailApi, ModelRunListCreateApi
from recommender.apis.recommendations import RecommendApi
from recommender.apis.service import HealthApi, ReadinessApi, ServiceInfoApi
from recommender.apis.similar import SimilarMoviesApi

router = SimpleRouter()
router.register("api/movies", MovieViewSet, basename="movie")

urlpatterns = [
    path("", ServiceInfoApi.as_view(), name="service-info"),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("readyz", ReadinessApi.as_view(), name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("recommend/<str:user_id>", RecommendApi.as_view(), name="recommend"),
    path("api/recommend/<str:user_id>", RecommendApi.as_view(), name="api-recommend"),
    path("api/ratings/", RatingCreateApi.as_view(), name="rating-create"),
    path("api/movies/<int:movie_id>/similar/", SimilarMoviesApi.as_view(), name="movie-similar"),
    path("api/users/<int:user_id>/", ViewerDetailApi.as_view(), name="viewer-detail"),
    path("api/model-runs/", ModelRunListCreateApi.as_view(), name="model-run-list"),
    path("api/model-runs/<int:run_id>/", ModelRunDetailApi.as_view(), name="model-run-detail"),
    path("api/events/", EventsApi.as_view(), name="events"),
    path("api/experiments/", ExperimentListCreateApi.as_view(), name="experiment-list"),
    path(
        "api/experiments/<int:experiment_id>/",
        ExperimentDetailApi.as_view(),
        name="experiment-detail",
    ),
    path(
        "api/experiments/<int:experiment_id>/start/",
        ExperimentStartApi.as_view(),
        name="experiment-start",
    ),
    path(
        "api/experiments/<int:experiment_id>/stop/",
        ExperimentStopApi.as_view(),
        name="experiment-stop",
    ),
    path(
        "api/experiments/<int:experiment_id>/results/",
        ExperimentResultsApi.as_view(),
        name="experiment-results",
    ),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    *router.urls,
]

# Errors outside DRF answer in the API's JSON shape too (the admin keeps its HTML pages).
handler400 = "common.api.errors.bad_request"
handler403 = "common.api.errors.permission_denied"
handler404 = "common.api.errors.page_not_found"
handler500 = "common.api.errors.server_error"
