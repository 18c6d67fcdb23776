"""Service-level endpoints: what is running here, and is it alive."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import videorec_site
from ingestion.selectors import dataset_counts


class ServiceInfoApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        version = serializers.CharField()
        data = inline_serializer(
            "DatasetCounts",
            fields={
                name: serializers.IntegerField()
                for name in ("genres", "movies", "viewers", "ratings")
            },
        )
        links = serializers.DictField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer, summary="Service information")
    def get(self, request: Request) -> Response:
        info = {
            "name": "VideoRec",
            "version": videorec_site.__version__,
            "data": dataset_counts(),
            "links": {
                "admin": request.build_absolute_uri(reverse("admin:index")),
                "docs": request.build_absolute_uri(reverse("swagger-ui")),
                "schema": request.build_absolute_uri(reverse("schema")),
            },
        }
        return Response(self.OutputSerializer(info).data)


class HealthApi(APIView):
    """Liveness: answers without touching the database or the cache."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer("Health", fields={"status": serializers.CharField()}),
        summary="Liveness probe",
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
