"""``/api/movies/<id>/similar/``: movies like one movie, from the active run's recall table."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.errors import Unprocessable
from common.api.permissions import PublicRead
from common.api.query_params import QueryParameters
from common.api.schema import ERROR_RESPONSES, NOT_FOUND, PUBLIC_READ, UNPROCESSABLE
from ingestion.models import Movie

from ..registry import active_run
from ..selectors import UnknownSource, similar_movies
from .parameters import TOPK_DESCRIPTION, topk_field


class SimilarMovieSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    title = serializers.CharField()
    score = serializers.FloatField()
    source = serializers.CharField()


class SimilarMoviesApi(APIView):
    """Movies like this one, from the active run's item-to-item recall table."""

    permission_classes = [PublicRead]

    filters = QueryParameters(
        topk=topk_field(), source=serializers.CharField(required=False, max_length=32)
    )

    @extend_schema(
        summary="Similar movies",
        parameters=[
            filters.parameter("topk", TOPK_DESCRIPTION),
            filters.parameter(
                "source",
                "Recall table (default: the run's similarity source); one the active run "
                "does not have is a 422",
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
            **PUBLIC_READ,
            **NOT_FOUND,
            **UNPROCESSABLE,
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
                raise Unprocessable({"source": [str(exc)]}) from exc
        return Response(
            {
                "item_id": movie_id,
                "model_run": run.id if run else None,
                "similar": SimilarMovieSerializer(similar, many=True).data,
            }
        )
