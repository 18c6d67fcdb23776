"""``/api/experiments/``: staff create, start, stop and read experiments and results."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.errors import Unprocessable
from common.api.parsers import JSONParser
from common.api.schema import (
    BODY_ERRORS,
    ERROR_RESPONSES,
    NO_SUCH_PAGE,
    NOT_FOUND,
    PAGE_PARAMETER,
    UNPROCESSABLE,
    ErrorSerializer,
    declare_link,
    paginated,
)

from ..models import Experiment
from ..selectors import experiments_list
from ..services.lifecycle import (
    ExperimentConflict,
    ExperimentInvalid,
    VariantSpec,
    experiment_create,
    experiment_start,
    experiment_stop,
)
from ..services.results import experiment_results
from .serializers import ExperimentInputSerializer, ExperimentSerializer, ResultsSerializer


class StaffOnly(BasePermission):
    message = "experiments are for staff only"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "the experiment is not in a state that allows this"


STAFF_ONLY = {
    401: OpenApiResponse(ErrorSerializer, description="Authentication required."),
    403: OpenApiResponse(ErrorSerializer, description="Staff only."),
}
CONFLICT = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="Another experiment is running, or this one is not in the right state "
        "(only a draft starts, only a running one stops).",
    )
}
ID_PARAMETER = OpenApiParameter(
    "experiment_id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH
)


class ExperimentListCreateApi(APIView):
    permission_classes = [StaffOnly]
    # Variants are a list of objects: JSON only (a form cannot carry them).
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="experiments_list",
        summary="Experiments",
        description="Every experiment, newest first, paginated (`page`).",
        parameters=[PAGE_PARAMETER],
        responses={
            200: paginated("PaginatedExperiments", ExperimentSerializer(many=True)),
            **STAFF_ONLY,
            **NO_SUCH_PAGE,
        },
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(experiments_list(), request, self)
        return paginator.get_paginated_response(ExperimentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="experiments_create",
        summary="Create an experiment (a draft)",
        description=(
            "A name, a mode and two or more variants, each a strategy with a weight. "
            "Variants with the same name, a `model_run` missing for the `run` strategy (or "
            "given for another), a run that is not a succeeded run with an artifact, or "
            "interleaving other than two variants: 422. Start it with `/start/`."
        ),
        request=ExperimentInputSerializer,
        responses={
            201: ExperimentSerializer,
            **ERROR_RESPONSES,
            **STAFF_ONLY,
            **UNPROCESSABLE,
            **BODY_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        payload = ExperimentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            experiment = experiment_create(
                name=data["name"],
                mode=data["mode"],
                variants=[VariantSpec(**variant) for variant in data["variants"]],
                salt=data.get("salt"),
            )
        except ExperimentInvalid as exc:
            raise Unprocessable(exc.errors) from exc
        return Response(ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailApi(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(
        operation_id="experiments_retrieve",
        summary="One experiment",
        parameters=[ID_PARAMETER],
        responses={200: ExperimentSerializer, **STAFF_ONLY, **NOT_FOUND},
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment = get_object_or_404(experiments_list(), id=experiment_id)
        return Response(ExperimentSerializer(experiment).data)


class _TransitionApi(APIView):
    """Start or stop: the service named by ``transition``, 409 when it does not fit."""

    permission_classes = [StaffOnly]
    transition: Any

    def post(self, request: Request, experiment_id: int) -> Response:
        get_object_or_404(Experiment, id=experiment_id)
        try:
            experiment = self.transition(experiment_id=experiment_id)
        except ExperimentConflict as exc:
            raise Conflict(str(exc)) from exc
        experiment = experiments_list().get(id=experiment.id)
        return Response(ExperimentSerializer(experiment).data)


TRANSITION_RESPONSES = {200: ExperimentSerializer, **STAFF_ONLY, **NOT_FOUND, **CONFLICT}


class ExperimentStartApi(_TransitionApi):
    transition = staticmethod(experiment_start)

    @extend_schema(
        operation_id="experiments_start",
        summary="Start an experiment",
        description="Viewers are assigned from now on. One experiment runs at a time (409).",
        request=None,
        parameters=[ID_PARAMETER],
        responses=TRANSITION_RESPONSES,
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        return super().post(request, experiment_id)


class ExperimentStopApi(_TransitionApi):
    transition = staticmethod(experiment_stop)

    @extend_schema(
        operation_id="experiments_stop",
        summary="Stop an experiment",
        description="Every viewer gets the active run again; the results stay readable.",
        request=None,
        parameters=[ID_PARAMETER],
        responses=TRANSITION_RESPONSES,
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        return super().post(request, experiment_id)


class ExperimentResultsApi(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(
        operation_id="experiments_results",
        summary="An experiment's results",
        description=(
            "Per variant: viewers, lists served, clicked lists, CTR with its 95% interval; "
            "the lift over the first variant with its interval and p-value, computed over "
            "viewers; the sample-ratio check; interleaving adds the lists each side won."
        ),
        parameters=[ID_PARAMETER],
        responses={200: ResultsSerializer, **STAFF_ONLY, **NOT_FOUND},
    )
    def get(self, request: Request, experiment_id: int) -> Response:
        get_object_or_404(Experiment, id=experiment_id)
        return Response(experiment_results(experiment_id=experiment_id))


# A created experiment leads to itself, its start, its stop and its results.
for _name, _target in (
    ("GetExperiment", "experiments_retrieve"),
    ("StartExperiment", "experiments_start"),
    ("StopExperiment", "experiments_stop"),
    ("GetResults", "experiments_results"),
):
    declare_link("experiments_create", 201, _name, _target, experiment_id="$response.body#/id")
