"""Data API: ratings (the real-time signal), the catalogue, and viewers."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.schema import BODY_ERRORS, ERROR_RESPONSES, NOT_FOUND, ErrorSerializer
from common.ids import MAX_ID

from .models import MAX_SCORE, MIN_SCORE, SCORES, Movie, Rating, Viewer
from .services import UnknownMovie, rating_upsert


class StarsField(serializers.FloatField):
    """A rating in stars: 0.5–5.0 in half-star steps. JSON ``true`` is not a number here
    (Python would read it as 1.0); DRF already refuses NaN and infinities."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=MIN_SCORE, max_value=MAX_SCORE, **kwargs)
        # After the range checks, so that 6 is "too high" rather than "off the steps".
        self.validators.append(self._half_star_step)

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)

    @staticmethod
    def _half_star_step(value: float) -> None:
        if MIN_SCORE <= value <= MAX_SCORE and value not in SCORES:
            raise serializers.ValidationError("Ratings go in half-star steps: 0.5, 1, … 5.")


class RatingCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    class RatingInputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        rating = StarsField(
            help_text="Stars, 0.5–5.0 in half-star steps (3.5 is kept as 3.5).",
        )
        rated_at = serializers.DateTimeField(required=False)

    class RatingSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(source="viewer_id")
        item_id = serializers.IntegerField(source="movie_id")
        rating = serializers.FloatField(source="score")
        rated_at = serializers.DateTimeField()

    @extend_schema(
        summary="Rate a movie (create or update)",
        description=(
            "Creates the rating (201) or updates the viewer's existing rating of the movie "
            "(200). A user id seen for the first time creates the viewer. The next "
            "`/recommend/{user_id}` reflects the rating without a retrain."
        ),
        request=RatingInputSerializer,
        responses={
            201: RatingSerializer,
            200: RatingSerializer,
            **ERROR_RESPONSES,
            401: OpenApiResponse(description="Authentication required (token or session)."),
            **BODY_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        payload = self.RatingInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            rating, created = rating_upsert(
                viewer_id=data["user_id"],
                movie_id=data["item_id"],
                score=data["rating"],
                rated_at=data.get("rated_at"),
            )
        except UnknownMovie as exc:
            raise serializers.ValidationError({"item_id": [str(exc)]}) from exc
        return Response(
            self.RatingSerializer(rating).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MovieSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField(source="id")
    genres = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    imdb_url = serializers.CharField(source="imdb_page", read_only=True)
    tmdb_url = serializers.CharField(source="tmdb_page", read_only=True)

    class Meta:
        model = Movie
        fields = ["item_id", "title", "year", "release_date", "imdb_url", "tmdb_url", "genres"]


class MovieFilter(filters.FilterSet):
    genre = filters.CharFilter(
        field_name="genres__name", lookup_expr="iexact", help_text="Genre name, e.g. Drama"
    )
    year = filters.NumberFilter()
    year_min = filters.NumberFilter(field_name="year", lookup_expr="gte")
    year_max = filters.NumberFilter(field_name="year", lookup_expr="lte")

    class Meta:
        model = Movie
        fields = ["genre", "year", "year_min", "year_max"]


@extend_schema_view(
    list=extend_schema(
        summary="Browse movies",
        responses={
            200: MovieSerializer,
            **ERROR_RESPONSES,
            404: OpenApiResponse(ErrorSerializer, description="No such page."),
        },
    ),
    retrieve=extend_schema(summary="One movie", responses={200: MovieSerializer, **NOT_FOUND}),
)
class MovieViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue: filter by genre and year, search by title."""

    queryset = Movie.objects.prefetch_related("genres").order_by("id")
    serializer_class = MovieSerializer
    permission_classes = [AllowAny]
    filter_backends = [filters.DjangoFilterBackend, SearchFilter]
    filterset_class = MovieFilter
    search_fields = ["title"]
    lookup_value_regex = r"[0-9]+"


class ViewerRatingSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField(source="movie_id")
    title = serializers.CharField(source="movie.title")
    rating = serializers.FloatField(source="score")

    class Meta:
        model = Rating
        fields = ["item_id", "title", "rating", "rated_at"]


class ViewerSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="id")

    class Meta:
        model = Viewer
        fields = ["user_id", "age", "gender", "occupation", "zip_code"]


class ViewerDetailApi(APIView):
    """A viewer and their ratings, newest first (paginated with ``page``)."""

    permission_classes = [AllowAny]

    @extend_schema(
        summary="A viewer and their ratings",
        parameters=[OpenApiParameter("page", int, description="Page of the ratings, from 1")],
        responses={
            200: inline_serializer(
                "ViewerWithRatings",
                fields={
                    **ViewerSerializer().get_fields(),
                    "ratings": inline_serializer(
                        "PaginatedViewerRatings",
                        fields={
                            "count": serializers.IntegerField(),
                            "next": serializers.URLField(allow_null=True),
                            "previous": serializers.URLField(allow_null=True),
                            "results": ViewerRatingSerializer(many=True),
                        },
                    ),
                },
            ),
            **NOT_FOUND,
        },
    )
    def get(self, request: Request, user_id: int) -> Response:
        viewer = get_object_or_404(Viewer, id=user_id)
        paginator = PageNumberPagination()
        ratings = paginator.paginate_queryset(
            viewer.ratings.select_related("movie").order_by("-rated_at", "-id"), request, self
        )
        return Response(
            {
                **ViewerSerializer(viewer).data,
                "ratings": paginator.get_paginated_response(
                    ViewerRatingSerializer(ratings, many=True).data
                ).data,
            }
        )
