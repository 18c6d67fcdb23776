"""The project's URLs plus views that fail on purpose, for the error-response tests."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

# Django reads the error handlers from the root URLconf module.
from videorec_site.urls import handler400, handler403, handler404, handler500  # noqa: F401
from videorec_site.urls import urlpatterns as project_urlpatterns

SECRET_IN_THE_ERROR = "the failing view's secret detail"


class FailingApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET_IN_THE_ERROR)


def failing_view(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError(SECRET_IN_THE_ERROR)


urlpatterns = [
    path("api/failing/", FailingApi.as_view()),
    path("failing-plain/", failing_view),
    *project_urlpatterns,
]
