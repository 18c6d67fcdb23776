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


class ExperimentTagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    variant = serializers.CharField(
        allow_null=True, help_text="The viewer's variant; null when two are interleaved."
    )
    credits = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Interleaving: the variant that placed each movie, in list order.",
    )


class RecommendationsSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    model_run = serializers.IntegerField(
        allow_null=True, help_text="Serving model run; null before the first training."
    )
    cold_start = serializers.BooleanField(help_text="True when the viewer has no ratings.")
    recommendations = RecommendedItemSerializer(many=True)
    # Per request, added to the cached rendering (an answer being rendered has neither:
    # read-only fields missing from it are skipped).
    request_id = serializers.UUIDField(
        read_only=True, help_text="This answer's id: send it with the events it leads to."
    )
    # Not read-only: the schema would then call it required.
    experiment = ExperimentTagSerializer(
        required=False,
        help_text="The running experiment, for a viewer in it (absent otherwise).",
    )
