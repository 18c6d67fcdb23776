"""``/api/model-runs/``: the retrains, listed and started by staff."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.fields import StrictBooleanField
from common.api.schema import (
    BODY_ERRORS,
    ERROR_RESPONSES,
    NO_SUCH_PAGE,
    NOT_FOUND,
    PAGE_PARAMETER,
    ClosedSerializer,
    ErrorSerializer,
    declare_link,
    paginated,
)

from ..models import ModelRun
from ..permissions import ModelRunPermission
from ..selectors import model_runs
from ..services.retrain import RetrainNotEnqueued, retrain_request


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

    class RetrainInputSerializer(ClosedSerializer):
        activate = StrictBooleanField(
            default=True, help_text="Serve the run when it is good enough (default true)."
        )
        force = StrictBooleanField(
            default=False, help_text="Serve it even if it scores worse than the active run."
        )

    @extend_schema(
        operation_id="model_runs_list",
        summary="Model runs",
        description="Every retrain, newest first, paginated (`page`).",
        parameters=[PAGE_PARAMETER],
        responses={
            200: paginated("PaginatedModelRuns", ModelRunSerializer(many=True)),
            **STAFF_ONLY,
            **NO_SUCH_PAGE,
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
            "a broker (`CELERY_BROKER_URL` unset) the retrain runs inside the request, except "
            "under production settings, which answer 503 instead."
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
            503: OpenApiResponse(
                ErrorSerializer,
                description="The task broker is unreachable, or none is configured (production).",
            ),
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


declare_link(
    "model_runs_create", 202, "GetModelRun", "model_runs_retrieve", run_id="$response.body#/id"
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
