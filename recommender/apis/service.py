"""What the service is and whether it can answer: the root document and the probes."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.permissions import PublicRead
from common.api.schema import PUBLIC_READ
from ingestion.selectors import dataset_counts

from ..models import ModelRun
from ..registry import active_model, active_run

logger = logging.getLogger(__name__)


class ServiceInfoApi(APIView):
    permission_classes = [PublicRead]

    class ServiceInfoSerializer(serializers.Serializer):
        name = serializers.CharField()
        version = serializers.CharField()
        data = inline_serializer(
            "DatasetCounts",
            fields={
                name: serializers.IntegerField()
                for name in ("genres", "movies", "viewers", "ratings")
            },
        )
        model_run = inline_serializer(
            "ActiveModelRun",
            fields={
                "id": serializers.IntegerField(),
                "activated_at": serializers.DateTimeField(),
                "data": serializers.DictField(help_text="Snapshot of the training data."),
                "metrics": serializers.DictField(help_text="Offline metrics of the system."),
            },
            allow_null=True,
        )
        links = serializers.DictField(child=serializers.CharField())

    @extend_schema(
        responses={200: ServiceInfoSerializer, **PUBLIC_READ}, summary="Service information"
    )
    def get(self, request: Request) -> Response:
        info = {
            "name": "VideoRec",
            # The version the settings publish, in the OpenAPI document as well.
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
            "data": dataset_counts(),
            "model_run": _run_summary(active_run()),
            "links": {
                "admin": request.build_absolute_uri(reverse("admin:index")),
                "docs": request.build_absolute_uri(reverse("swagger-ui")),
                "schema": request.build_absolute_uri(reverse("schema")),
            },
        }
        return Response(self.ServiceInfoSerializer(info).data)


def _run_summary(run: ModelRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "activated_at": run.activated_at,
        "data": run.data_snapshot,
        "metrics": run.metrics.get("system", {}),
    }


class HealthApi(APIView):
    """Liveness: answers without touching the database or the cache."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    # Probes are not throttled: the throttle's counters live in the cache.
    throttle_classes: list = []

    @extend_schema(
        responses=inline_serializer("Health", fields={"status": serializers.CharField()}),
        summary="Liveness probe",
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadinessApi(APIView):
    """Readiness: 200 only when the database answers and a model is loaded."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        summary="Readiness probe",
        responses={
            200: inline_serializer(
                "Ready",
                fields={"status": serializers.CharField(), "model_run": serializers.IntegerField()},
            ),
            503: inline_serializer(
                "NotReady",
                fields={"status": serializers.CharField(), "detail": serializers.CharField()},
            ),
        },
    )
    def get(self, request: Request) -> Response:
        try:
            # The model is held in memory and its id cached: ask the database itself.
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            model = active_model()
        except DatabaseError as exc:
            # The driver's message names hosts and ports: it goes to the log, not out.
            logger.warning("readiness: database unavailable: %s", str(exc).strip()[:200])
            return Response(
                {"status": "unavailable", "detail": "database unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        if model is None:
            return Response(
                {"status": "unavailable", "detail": "no model is active; run manage.py train"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"status": "ok", "model_run": model.run_id})
