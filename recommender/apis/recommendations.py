"""``/recommend/<user_id>``: top-K movies for a viewer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.permissions import PublicRead
from common.api.query_params import QueryParameters
from common.api.schema import ERROR_RESPONSES, NOT_FOUND, PUBLIC_READ
from common.ids import MAX_ID
from common.monitoring import observe_recommendation

from ..serializers import RecommendationsSerializer
from ..services.serving import UnknownGenre, recommendations_for_viewers
from .parameters import TOPK_PARAMETER, list_parameter, topk_field


class RecommendApi(APIView):
    """Top-K movies for a viewer, from the active model run."""

    permission_classes = [PublicRead]

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
        responses={200: RecommendationsSerializer, **ERROR_RESPONSES, **PUBLIC_READ, **NOT_FOUND},
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
        # RecommendationsSerializer's rendering, made once when the answer was computed and
        # cached with it.
        return Response(result.representation)
