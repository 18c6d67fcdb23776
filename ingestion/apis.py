"""Data API: ratings (the real-time signal), the catalogue, and viewers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.errors import Unprocessable
from common.api.fields import FormDateTimeField
from common.api.permissions import PublicRead
from common.api.schema import (
    BODY_ERRORS,
    ERROR_RESPONSES,
    NO_SUCH_PAGE,
    NOT_FOUND,
    PUBLIC_READ,
    UNPROCESSABLE,
    ErrorSerializer,
    declare_link,
)
from common.ids import MAX_ID

from .models import MAX_SCORE, MIN_SCORE, SCORES, Movie, Rating, Viewer
from .permissions import (
    INGESTION_CLIENT_GROUP,
    RatingWritePermission,
    ViewerReadPermission,
    can_create_viewers,
)
from .services import InvalidRatingTime, UnknownMovie, ViewerCreationRefused, rating_upsert


@extend_schema_field(
    {
        "type": "number",
        "minimum": MIN_SCORE,
        "maximum": MAX_SCORE,
        # Every score is a whole number of half stars.
        "multipleOf": SCORES[0],
    }
)
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
    permission_classes = [RatingWritePermission]

    class RatingInputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        rating = StarsField(
            help_text="Stars, 0.5–5.0 in half-star steps (3.5 is kept as 3.5).",
        )
        rated_at = FormDateTimeField(
            required=False,
            help_text="From 1970 to now (a few minutes of clock skew allowed); outside that "
            "range the answer is 422.",
        )

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
            "`/recommend/{user_id}` reflects the rating without a retrain. Needs the add and "
            f"change rating permissions (the {INGESTION_CLIENT_GROUP!r} group), and the add "
            "viewer permission to create a viewer. A movie id the catalogue does not have, "
            "or a `rated_at` outside its range, is a 422."
        ),
        request=RatingInputSerializer,
        responses={
            201: RatingSerializer,
            200: RatingSerializer,
            **ERROR_RESPONSES,
            401: OpenApiResponse(
                ErrorSerializer, description="Authentication required (token or session)."
            ),
            403: OpenApiResponse(
                ErrorSerializer,
                description="No permission to write ratings, or to create this new viewer.",
            ),
            **UNPROCESSABLE,
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
                create_viewer=can_create_viewers(request.user),
            )
        except UnknownMovie as exc:
            raise Unprocessable({"item_id": [str(exc)]}) from exc
        except InvalidRatingTime as exc:
            raise Unprocessable({"rated_at": [str(exc)]}) from exc
        except ViewerCreationRefused as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        return Response(
            self.RatingSerializer(rating).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# What a client reads after a rating: the viewer's recommendations (they reflect it at once),
# the movie rated, and the viewer (staff).
for _status in (200, 201):
    declare_link(
        "api_ratings_create", _status, "GetRecommendations", "recommend_retrieve",
        user_id="$response.body#/user_id",
    )  # fmt: skip
    declare_link(
        "api_ratings_create",
        _status,
        "GetMovie",
        "api_movies_retrieve",
        id="$response.body#/item_id",
    )
    declare_link(
        "api_ratings_create",
        _status,
        "GetViewer",
        "api_users_retrieve",
        user_id="$response.body#/user_id",
    )


class MovieSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField(source="id")
    genres = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    imdb_url = serializers.CharField(source="imdb_page", read_only=True)
    tmdb_url = serializers.CharField(source="tmdb_page", read_only=True)

    class Meta:
        model = Movie
        fields = ["item_id", "title", "year", "release_date", "imdb_url", "tmdb_url", "genres"]


#: ``Movie.year`` is a PositiveSmallIntegerField: its range on every database backend.
YEAR_RANGE = (0, 32767)


class YearFilter(filters.NumberFilter):
    """A whole year in range: ``NumberFilter`` alone took ``1995.5`` (and answered 200)."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=YEAR_RANGE[0], max_value=YEAR_RANGE[1], **kwargs)


class MovieFilter(filters.FilterSet):
    genre = filters.CharFilter(
        field_name="genres__name", lookup_expr="iexact", help_text="Genre name, e.g. Drama"
    )
    year = YearFilter()
    year_min = YearFilter(field_name="year", lookup_expr="gte")
    year_max = YearFilter(field_name="year", lookup_expr="lte")

    class Meta:
        model = Movie
        fields = ["genre", "year", "year_min", "year_max"]


YEAR_SCHEMA = {"type": "integer", "minimum": YEAR_RANGE[0], "maximum": YEAR_RANGE[1]}
#: Django's form fields and DRF's search refuse NUL characters (400).
TEXT_SCHEMA = {"type": "string", "pattern": "^[^\\x00]*$"}


@extend_schema_view(
    list=extend_schema(
        summary="Browse movies",
        # What the filters enforce, which django-filter's schema leaves out.
        parameters=[
            *(
                OpenApiParameter(name, YEAR_SCHEMA, description=description)
                for name, description in (
                    ("year", "Released that year"),
                    ("year_min", "Released that year or later"),
                    ("year_max", "Released that year or earlier"),
                )
            ),
            OpenApiParameter("genre", TEXT_SCHEMA, description="Genre name, e.g. Drama"),
            OpenApiParameter("search", TEXT_SCHEMA, description="Words of the title"),
        ],
        responses={200: MovieSerializer, **ERROR_RESPONSES, **PUBLIC_READ, **NO_SUCH_PAGE},
    ),
    retrieve=extend_schema(
        summary="One movie", responses={200: MovieSerializer, **PUBLIC_READ, **NOT_FOUND}
    ),
)
class MovieViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalogue: filter by genre and year, search by title."""

    queryset = Movie.objects.prefetch_related("genres").order_by("id")
    serializer_class = MovieSerializer
    permission_classes = [PublicRead]
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
    """A viewer and their ratings, newest first (paginated with ``page``): staff only."""

    permission_classes = [ViewerReadPermission]

    @extend_schema(
        summary="A viewer and their ratings",
        description="Demographics and rating history: staff with the view viewer permission.",
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
            401: OpenApiResponse(ErrorSerializer, description="Authentication required."),
            403: OpenApiResponse(ErrorSerializer, description="Staff only."),
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
