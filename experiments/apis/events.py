"""``POST /api/events/``: feedback from the clients, a batch at a time."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.parsers import JSONParser
from common.api.schema import BODY_ERRORS, ERROR_RESPONSES, ClosedSerializer, ErrorSerializer
from common.ids import MAX_ID
from ingestion.permissions import RatingWritePermission, can_create_viewers
from ingestion.services import InvalidRatingTime, rated_at_check

from ..models import Event
from ..services.events import EventInput, Rejection, events_record

#: Largest batch one request may carry.
MAX_EVENTS = 1000


class IdField(serializers.IntegerField):
    """A positive id; JSON ``true`` is not 1 here."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class EventInputSerializer(ClosedSerializer):
    """One event of a batch; validated alone, so a bad one does not sink the others."""

    type = serializers.ChoiceField(choices=Event.Type.values)
    user_id = IdField()
    item_id = IdField()
    request_id = serializers.UUIDField(required=False, allow_null=True)
    timestamp = serializers.DateTimeField(required=False, allow_null=True)
    value = serializers.FloatField(required=False, allow_null=True)
    event_id = serializers.CharField(
        required=False, allow_null=True, max_length=100, trim_whitespace=False
    )

    def validate_timestamp(self, value: Any) -> Any:
        if value is not None:
            try:
                rated_at_check(value)
            except InvalidRatingTime as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return value


EVENT_FIELDS = (
    '`type` ("click", "watch", "like" or "dislike"), `user_id`, `item_id` (a movie of the '
    "catalogue), and optionally `request_id` (the `request_id` of the `/recommend` answer "
    "that showed the movie: clicks count for an experiment through it), `timestamp` "
    "(ISO 8601, from 1970 to now; default: when received), `value` (a number, e.g. seconds "
    "watched) and `event_id` (up to 100 characters; an event whose `event_id` is already "
    "stored is a duplicate, so a retried batch stores nothing twice)"
)


#: Each event is checked on its own, so the schema lets any item through.
_EVENT_LIST = {"type": "array", "items": {"nullable": True}, "maxItems": MAX_EVENTS}
#: Two shapes of one batch: ``{"events": [...]}`` or the bare array.
BATCH_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "events": {
                    **_EVENT_LIST,
                    "description": f"Up to {MAX_EVENTS} events, each an object: {EVENT_FIELDS}.",
                }
            },
            "required": ["events"],
            "additionalProperties": False,
        },
        {**_EVENT_LIST, "description": "The same batch as a bare array of events."},
    ]
}


class EventsApi(APIView):
    permission_classes = [RatingWritePermission]
    # A batch is a list of objects: JSON only (a form cannot carry it).
    parser_classes = [JSONParser]

    class BatchSerializer(ClosedSerializer):
        events = serializers.ListField(
            # Anything: each event is checked on its own and reported by its index.
            child=serializers.JSONField(allow_null=True),
            max_length=MAX_EVENTS,
            help_text=f"Up to {MAX_EVENTS} events, each an object: {EVENT_FIELDS}.",
        )

    class OutcomeSerializer(serializers.Serializer):
        accepted = serializers.IntegerField(help_text="Events stored.")
        duplicates = serializers.IntegerField(help_text="Events whose `event_id` was stored.")
        rejected = serializers.IntegerField(help_text="Events refused (see `errors`).")
        errors = inline_serializer(
            "EventError",
            fields={
                "index": serializers.IntegerField(help_text="Position in `events`, from 0."),
                "field": serializers.CharField(),
                "problem": serializers.CharField(),
            },
            many=True,
        )

    @extend_schema(
        operation_id="events_create",
        summary="Record feedback events",
        description=(
            'Stores a batch of feedback events, sent as `{"events": [...]}` or as a bare '
            "array. Each event is checked on its own: a bad "
            "one is reported in `errors` by its index, field and problem, and the good ones "
            "are stored (202 in every case but a malformed batch). A `dislike` keeps the "
            "movie out of the viewer's next `/recommend` answers at once. Needs the "
            "permissions of a rating write (the 'ingestion client' group); a dislike by an "
            "unknown viewer also needs the add viewer permission (it creates the viewer)."
        ),
        request={"application/json": BATCH_SCHEMA},
        responses={
            202: OutcomeSerializer,
            **ERROR_RESPONSES,
            401: OpenApiResponse(ErrorSerializer, description="Authentication required."),
            403: OpenApiResponse(ErrorSerializer, description="No permission to write ratings."),
            **BODY_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        # A bare array is the same batch without its envelope.
        data = {"events": request.data} if isinstance(request.data, list) else request.data
        batch = self.BatchSerializer(data=data)
        batch.is_valid(raise_exception=True)
        good, bad = _validated(batch.validated_data["events"])
        outcome = events_record(
            events=good, create_viewers=can_create_viewers(request.user), rejected=bad
        )
        body = {
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "rejected": len({rejection.index for rejection in outcome.rejected}),
            "errors": [vars(rejection) for rejection in outcome.rejected],
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _validated(raw_events: list[Any]) -> tuple[list[EventInput], list[Rejection]]:
    good, bad = [], []
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            bad.append(Rejection(index, "", "an event is a JSON object"))
            continue
        event = EventInputSerializer(data=raw)
        if event.is_valid():
            good.append(EventInput(index=index, **event.validated_data))
            continue
        for field, problems in event.errors.items():
            bad.append(Rejection(index, field, " ".join(str(p) for p in problems)))
    return good, bad
