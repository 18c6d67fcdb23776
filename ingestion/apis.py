"""Write API for ratings: the real-time signal that changes the next recommendation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videorec_site.api_schema import ERROR_RESPONSES

from .models import MAX_SCORE, MIN_SCORE
from .services import UnknownMovie, rating_upsert
from .sources import MAX_ID


class RatingCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    class RatingInputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        rating = serializers.IntegerField(min_value=MIN_SCORE, max_value=MAX_SCORE)
        rated_at = serializers.DateTimeField(required=False)

    class RatingSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(source="viewer_id")
        item_id = serializers.IntegerField(source="movie_id")
        rating = serializers.IntegerField(source="score")
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
