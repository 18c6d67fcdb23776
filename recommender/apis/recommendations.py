"""``/recommend/<user_id>``: top-K movies for a viewer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
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

#: Accept headers that can only mean JSON (the first renderer) for this view.
PLAIN_JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


class PreRenderedResponse(Response):
    """A response whose JSON is already made: sent as it is to a JSON client (no indent
    asked for); any other renderer (the browsable API) renders ``data`` as usual."""

    def __init__(self, data: dict, content: bytes) -> None:
        super().__init__(data)
        self.prerendered = content

    @property
    def rendered_content(self) -> bytes:
        renderer = getattr(self, "accepted_renderer", None)
        if type(renderer) is not JSONRenderer or "indent" in (self.accepted_media_type or ""):
            return super().rendered_content
        self["Content-Type"] = renderer.media_type
        return self.prerendered


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

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # Most clients send no Accept header, or */* or JSON: they get JSON without DRF's
        # parse of the header against every renderer (a tenth of a cached answer's cost).
        accept = request.META.get("HTTP_ACCEPT", "")
        if accept in PLAIN_JSON_ACCEPTS and "format" not in request.query_params:
            renderer = self.get_renderers()[0]
            if isinstance(renderer, JSONRenderer):
                return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

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
            # RecommendationsSerializer's rendering and its JSON, made once when the answer
            # was computed and cached with it; the request id (and experiment) are spliced
            # in per request.
            answer = recommendations_served(
                viewer_id=int(user_id),
                topk=options["topk"],
                genres=options["genre"],
                exclude=options["exclude"],
            )
        except UnknownGenre as exc:
            raise Unprocessable({"genre": [str(exc)]}) from exc
        return PreRenderedResponse(answer.data, answer.content)
