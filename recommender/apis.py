"""Endpoints of the service: info, probes, recommendations, and retrains for staff."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import videorec_site
from ingestion.models import Movie
from ingestion.selectors import dataset_counts
from ingestion.sources import MAX_ID
from videorec_site.api_schema import BODY_ERRORS, ERROR_RESPONSES, NOT_FOUND, ErrorSerializer
from videorec_site.monitoring import observe_recommendation
from videorec_site.query_params import QueryParameters

from .models import ModelRun
from .permissions import ModelRunPermission
from .registry import active_model, active_run
from .selectors import UnknownSource, model_runs, similar_movies
from .services.retrain import RetrainNotEnqueued, retrain_request
from .services.serving import MAX_TOPK, UnknownGenre, recommendations_for_viewers

logger = logging.getLogger(__name__)

TOPK_PARAMETER = OpenApiParameter("topk", int, description=f"1–{MAX_TOPK}, default 10")


def topk_field() -> serializers.IntegerField:
    """The ``topk`` query parameter, with one message for every way it can be wrong."""
    message = f"must be an integer between 1 and {MAX_TOPK}"
    return serializers.IntegerField(
        min_value=1,
        max_value=MAX_TOPK,
        default=10,
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"), message
        ),
    )


class ServiceInfoApi(APIView):
    permission_classes = [AllowAny]

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

    @extend_schema(responses=ServiceInfoSerializer, summary="Service information")
    def get(self, request: Request) -> Response:
        info = {
            "name": "VideoRec",
            "version": videorec_site.__version__,
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


class ReasonSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="Recall source that ranked the movie highest.")
    text = serializers.CharField(help_text='E.g. "Because you rated Star Wars (1977)".')
    because_item_id = serializers.IntegerField(
        allow_null=True, help_text="The viewer's rated movie it came from, if any."
    )


class RecommendedItemSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    title = serializers.CharField()
    score = serializers.FloatField(help_text="Ranker score; compare within one answer only.")
    reasons = ReasonSerializer(many=True)


class RecommendationsSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    model_run = serializers.IntegerField(
        allow_null=True, help_text="Serving model run; null before the first training."
    )
    cold_start = serializers.BooleanField(help_text="True when the viewer has no ratings.")
    recommendations = RecommendedItemSerializer(many=True)


class RecommendApi(APIView):
    """Top-K movies for a viewer, from the active model run."""

    permission_classes = [AllowAny]

    filters = QueryParameters(
        topk=topk_field(),
        genre=serializers.ListField(child=serializers.CharField(max_length=64), default=list),
        exclude=serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID), default=list
        ),
    )

    @extend_schema(
        summary="Recommendations for a viewer",
        description=(
            "Ranked by the active model run: the viewer's current ratings → candidates from "
            "the recall sources → features → LightGBM. Never returns a movie the viewer has "
            "rated. Unknown viewers get popular movies (`cold_start: true`); before the first "
            "training, popularity is counted from the ratings (`model_run: null`)."
        ),
        parameters=[
            OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="MovieLens id"),
            TOPK_PARAMETER,
            OpenApiParameter(
                "genre",
                str,
                many=True,
                description="Keep movies of these genres (repeat or comma-separate)",
            ),
            OpenApiParameter("exclude", int, many=True, description="Movie ids not to return"),
        ],
        responses={200: RecommendationsSerializer, **ERROR_RESPONSES, **NOT_FOUND},
    )
    @observe_recommendation
    def get(self, request: Request, user_id: str) -> Response:
        if not user_id.isascii() or not user_id.isdigit() or not 0 < int(user_id) <= MAX_ID:
            raise NotFound(f"no viewer {user_id!r}: user ids are positive integers")
        options = self.filters.validate(
            {
                "topk": request.query_params.get("topk", 10),
                "genre": _list_param(request, "genre"),
                "exclude": _list_param(request, "exclude"),
            }
        )
        viewer_id = int(user_id)
        try:
            (result,) = recommendations_for_viewers(
                viewer_ids=[viewer_id],
                topk=options["topk"],
                genres=options["genre"],
                exclude={viewer_id: options["exclude"]},
            )
        except UnknownGenre as exc:
            raise ValidationError({"genre": [str(exc)]}) from exc
        # RecommendationsSerializer documents this shape; building the dict directly is
        # ten times cheaper than running the nested serializers on every request.
        return Response(result.as_dict())


def _list_param(request: Request, name: str) -> list[str]:
    """``?genre=A&genre=B`` and ``?genre=A,B`` mean the same."""
    return [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]


class SimilarMovieSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    title = serializers.CharField()
    score = serializers.FloatField()
    source = serializers.CharField()


class SimilarMoviesApi(APIView):
    """Movies like this one, from the active run's item-to-item recall table."""

    permission_classes = [AllowAny]

    filters = QueryParameters(
        topk=topk_field(), source=serializers.CharField(required=False, max_length=32)
    )

    @extend_schema(
        summary="Similar movies",
        parameters=[
            TOPK_PARAMETER,
            OpenApiParameter(
                "source", str, description="Recall table (default: the run's similarity source)"
            ),
        ],
        responses={
            200: inline_serializer(
                "SimilarMovies",
                fields={
                    "item_id": serializers.IntegerField(),
                    "model_run": serializers.IntegerField(allow_null=True),
                    "similar": SimilarMovieSerializer(many=True),
                },
            ),
            **ERROR_RESPONSES,
            **NOT_FOUND,
        },
    )
    def get(self, request: Request, movie_id: int) -> Response:
        get_object_or_404(Movie, id=movie_id)
        options = self.filters.validate(request.query_params)
        run = active_run()
        similar = []
        if run is not None:
            try:
                similar = similar_movies(run=run, movie_id=movie_id, **options)
            except UnknownSource as exc:
                raise ValidationError({"source": [str(exc)]}) from exc
        return Response(
            {
                "item_id": movie_id,
                "model_run": run.id if run else None,
                "similar": SimilarMovieSerializer(similar, many=True).data,
            }
        )


# ------------------------------------------------------------------ model runs (staff only)
class BrokerUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "the task broker is unreachable; retry shortly"


STAFF_ONLY = {
    401: OpenApiResponse(ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(
        ErrorSerializer,
        description="Staff with the model-run permission only (view to read, change to retrain).",
    ),
}


class ModelRunSerializer(serializers.ModelSerializer):
    """A retrain as an operator follows it: state, stage, timings, metrics, links."""

    worker = serializers.SerializerMethodField(
        help_text="Process executing the current stage (`host:pid`), null between stages."
    )
    links = serializers.SerializerMethodField()

    class Meta:
        model = ModelRun
        fields = [
            "id", "status", "stage", "is_active", "triggered_by", "task_id", "created_at",
            "started_at", "finished_at", "activated_at", "heartbeat_at", "worker",
            "data_snapshot", "stage_seconds", "metrics", "error", "links",
        ]  # fmt: skip

    def get_worker(self, run: ModelRun) -> str | None:
        return f"{run.worker_host}:{run.worker_pid}" if run.worker_pid else None

    def get_links(self, run: ModelRun) -> dict[str, str]:
        request = self.context["request"]
        return {
            "self": request.build_absolute_uri(reverse("model-run-detail", args=[run.id])),
            "admin": request.build_absolute_uri(
                reverse("admin:recommender_modelrun_change", args=[run.id])
            ),
        }


class ModelRunListCreateApi(APIView):
    """Staff: list the retrains, or start one on the Celery worker."""

    permission_classes = [ModelRunPermission]

    class RetrainInputSerializer(serializers.Serializer):
        activate = serializers.BooleanField(
            default=True, help_text="Serve the run when it is good enough (default true)."
        )
        force = serializers.BooleanField(
            default=False, help_text="Serve it even if it scores worse than the active run."
        )

        def validate(self, attrs: dict) -> dict:
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise ValidationError(
                    {name: ["unknown field; accepted: activate, force"] for name in unknown}
                )
            return attrs

    @extend_schema(
        operation_id="model_runs_list",
        summary="Model runs",
        description="Every retrain, newest first, paginated (`page`).",
        parameters=[OpenApiParameter("page", int, description="Page, from 1")],
        responses={
            200: inline_serializer(
                "PaginatedModelRuns",
                fields={
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": ModelRunSerializer(many=True),
                },
            ),
            **STAFF_ONLY,
        },
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        runs = paginator.paginate_queryset(model_runs(), request, self)
        data = ModelRunSerializer(runs, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="model_runs_create",
        summary="Retrain now",
        description=(
            "Enqueues a retrain (recall tables → ranker → evaluation → activation) for the "
            "Celery worker and answers at once with the queued run (202); follow it at "
            "`links.self`. One retrain runs at a time: while one is queued or running, the "
            "answer is 409 with that run under `model_run`, and nothing new starts. Without "
            "a broker (`CELERY_BROKER_URL` unset) the retrain runs inside the request."
        ),
        request=RetrainInputSerializer,
        responses={
            202: ModelRunSerializer,
            409: OpenApiResponse(
                inline_serializer(
                    "RetrainInFlight",
                    fields={
                        "detail": serializers.CharField(),
                        "model_run": ModelRunSerializer(),
                    },
                ),
                description="A retrain is already queued or running: that run.",
            ),
            503: OpenApiResponse(ErrorSerializer, description="The task broker is unreachable."),
            **ERROR_RESPONSES,
            **BODY_ERRORS,
            **STAFF_ONLY,
        },
    )
    def post(self, request: Request) -> Response:
        payload = self.RetrainInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            retrain = retrain_request(
                triggered_by=f"API ({request.user.get_username()})", **payload.validated_data
            )
        except RetrainNotEnqueued as exc:
            raise BrokerUnavailable(str(exc)) from exc
        run = ModelRunSerializer(retrain.run, context={"request": request}).data
        if not retrain.created:
            return Response(
                {
                    "detail": (
                        f"run {retrain.run.id} is already {retrain.run.status} "
                        f"({retrain.run.stage}); no second retrain was started"
                    ),
                    "model_run": run,
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(
            run, status=status.HTTP_202_ACCEPTED, headers={"Location": run["links"]["self"]}
        )


class ModelRunDetailApi(APIView):
    """Staff: one retrain, to watch its status, stage and metrics."""

    permission_classes = [ModelRunPermission]

    @extend_schema(
        operation_id="model_runs_retrieve",
        summary="One model run",
        responses={200: ModelRunSerializer, **STAFF_ONLY, **NOT_FOUND},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(model_runs(), id=run_id)
        return Response(ModelRunSerializer(run, context={"request": request}).data)
