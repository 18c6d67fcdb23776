"""Feedback events: a batch is checked against the catalogue and the viewers, stored once
per ``event_id``, and a dislike keeps the movie out of the viewer's next answers."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from ingestion.models import Movie, Viewer
from ingestion.services import viewer_histories_changed

from ..metrics import EVENTS_RECEIVED
from ..models import Event
from ..selectors import existing_event_ids


@dataclass(frozen=True)
class EventInput:
    """One event as the API validated it; ``index`` is its place in the batch."""

    index: int
    type: str
    user_id: int
    item_id: int
    request_id: uuid.UUID | None = None
    timestamp: dt.datetime | None = None
    value: float | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    problem: str


@dataclass(frozen=True)
class EventsOutcome:
    accepted: int
    duplicates: int
    rejected: list[Rejection] = field(default_factory=list)


def events_record(
    *, events: Sequence[EventInput], create_viewers: bool, rejected: Sequence[Rejection] = ()
) -> EventsOutcome:
    """Store the good events of a batch; report each bad one by index, field and problem.

    ``rejected`` are the events the caller already refused (their shape); the others are
    checked here: the movie must exist; a dislike needs a known viewer (its exclusion is
    keyed by the viewer's history version), created when ``create_viewers`` allows, as a
    first rating would. An ``event_id`` already stored, or repeated in the batch, is a
    duplicate: a retried batch stores nothing twice.
    """
    refused = list(rejected)
    known_movies = set(
        Movie.objects.filter(id__in={e.item_id for e in events}).values_list("id", flat=True)
    )
    refused += [
        Rejection(e.index, "item_id", f"movie {e.item_id} does not exist")
        for e in events
        if e.item_id not in known_movies
    ]
    events = [e for e in events if e.item_id in known_movies]
    dislikers = {e.user_id for e in events if e.type == Event.Type.DISLIKE}
    unknown_viewers = dislikers - set(
        Viewer.objects.filter(id__in=dislikers).values_list("id", flat=True)
    )
    if unknown_viewers and not create_viewers:
        refused += [
            Rejection(
                e.index,
                "user_id",
                f"viewer {e.user_id} does not exist, and this client may not create viewers",
            )
            for e in events
            if e.type == Event.Type.DISLIKE and e.user_id in unknown_viewers
        ]
        events = [
            e for e in events if not (e.type == Event.Type.DISLIKE and e.user_id in unknown_viewers)
        ]
        unknown_viewers = set()
    fresh, duplicates = _without_duplicates(events)
    _store(fresh, unknown_viewers)
    _count(fresh, duplicates, refused)
    return EventsOutcome(len(fresh), len(duplicates), sorted(refused, key=lambda r: r.index))


def _without_duplicates(events: list[EventInput]) -> tuple[list[EventInput], list[EventInput]]:
    stored = existing_event_ids({e.event_id for e in events if e.event_id})
    fresh, duplicates, seen = [], [], set(stored)
    for event in events:
        if event.event_id and event.event_id in seen:
            duplicates.append(event)
            continue
        if event.event_id:
            seen.add(event.event_id)
        fresh.append(event)
    return fresh, duplicates


def _store(events: list[EventInput], new_viewers: set[int]) -> None:
    now = timezone.now()
    dislikers = {e.user_id for e in events if e.type == Event.Type.DISLIKE}
    with transaction.atomic():
        if new_viewers & dislikers:
            # As ``rating_upsert`` does: a new viewer's version starts at the clock.
            Viewer.objects.bulk_create(
                [Viewer(id=v, history_version=time.time_ns() // 1000) for v in new_viewers],
                ignore_conflicts=True,
            )
        # ignore_conflicts: the same event_id sent concurrently is stored once.
        Event.objects.bulk_create(
            [
                Event(
                    type=e.type,
                    user_id=e.user_id,
                    item_id=e.item_id,
                    request_id=e.request_id,
                    timestamp=e.timestamp or now,
                    value=e.value,
                    event_id=e.event_id or None,
                    received_at=now,
                )
                for e in events
            ],
            ignore_conflicts=True,
        )
        if dislikers:
            # Their cached answers are keyed by this version: the next one is computed
            # afresh, without the disliked movie (serving asks ``disliked_movies``).
            viewer_histories_changed(viewer_ids=dislikers)


def _count(fresh: list[EventInput], duplicates: list[EventInput], refused: list[Rejection]) -> None:
    for outcome, batch in (("accepted", fresh), ("duplicate", duplicates)):
        for event in batch:
            EVENTS_RECEIVED.labels(type=event.type, outcome=outcome).inc()
    if refused:
        EVENTS_RECEIVED.labels(type="any", outcome="rejected").inc(len(refused))
