"""The JSON shape of a recommendation list, in one place.

The serving service renders every answer it computes with :class:`RecommendationsSerializer`
and caches that rendering with the answer, so ``/recommend`` returns a cached answer
without serializing it again; the endpoint's OpenAPI schema is the same serializer.
"""

from __future__ import annotations

from rest_framework import serializers


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
