"""``/recommend/<user_id>``: top-K movies for a viewer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.errors import Unprocessable
from common.api.permissions import PublicRead
from common.api.query_params import QueryParameters
from common.api.schema import ERROR_RESPONSES, NOT_FOUND, PUBLIC_READ, UNPROCESSABLE
from common.ids import MAX_ID
from common.monitoring import observe_recommendation
from experiments.services.serving import recommendations_served

from ..serializers import RecommendationsSerializer
from ..services.serving import UnknownGenre
from .parameters import TOPK_DESCRIPTION, list_parameter, topk_field


class RecommendApi(APIView):
    """Top-K movies for a viewer, from the active model run."""

    permission_classes = [PublicRead]

    filters = QueryParameters(
        topk=topk_field(),
        # Blank items are dropped before validation (list_parameter): not an error.
        genre=serializers.ListField(
            child=serializers.CharField(max_length=64, allow_blank=True), default=list
        ),
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
            "training, popularity is counted from the ratings (`model_run: null`). Every "
            "answer has a `request_id` (send it with the clicks on its movies, "
            "`POST /api/events/`); a viewer in a running experiment gets its variant's list "
            "(or two variants' lists interleaved) and an `experiment` block. A movie the "
            "viewer disliked is not returned again."
        ),
        parameters=[
            OpenApiParameter(
                "user_id",
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                OpenApiParameter.PATH,
                description="MovieLens id; anything else is a 404",
            ),
            filters.parameter("topk", TOPK_DESCRIPTION),
            filters.parameter(
                "genre",
                "Keep movies of these genres (repeat or comma-separate); an unknown genre is a 422",
            ),
            filters.parameter("exclude", "Movie ids not to return (repeat or comma-separate)"),
        ],
        responses={
            200: RecommendationsSerializer,
            **ERROR_RESPONSES,
            **PUBLIC_READ,
            **NOT_FOUND,
            **UNPROCESSABLE,
        },
    )
    @observe_recommendation
    def get(self, request: Request, user_id: str) -> Response:
        if not user_id.isascii() or not user_id.isdigit() or not 0 < int(user_id) <= MAX_ID:
            raise NotFound(f"no viewer {user_id!r}: user ids are positive integers")
        options = self.filters.validate(
            {
                "topk": request.query_params.get("topk", 10),
                "genre": list_parameter(request, "genre"),
                "exclude": list_parameter(request, "exclude"),
            }
        )
        try:
            # RecommendationsSerializer's rendering, made once when the answer was computed
            # and cached with it; the request id (and experiment) are added per request.
            body = recommendations_served(
                viewer_id=int(user_id),
                topk=options["topk"],
                genres=options["genre"],
                exclude=options["exclude"],
            )
        except UnknownGenre as exc:
            raise Unprocessable({"genre": [str(exc)]}) from exc
        return Response(body)
