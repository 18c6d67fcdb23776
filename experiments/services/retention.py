"""Retention of the experiments' raw data: impressions and events older than
``VIDEOREC_IMPRESSION_RETENTION_DAYS`` are deleted, except what a result still needs.

Every ``/recommend`` answer writes an impression, and clients post clicks for them: both
tables grow with the traffic, without bound. Deleted, once older than the retention:

- impressions served outside any experiment, and those of stopped experiments (their
  results were read while they ran; a stopped experiment's results then cover only its
  newer lists, and none once all are older);
- click, watch and like events, except those of a running or draft experiment's lists.

Kept whatever their age: a running or draft experiment's impressions (its results read
them all), and dislikes (serving keeps a disliked movie out of the viewer's lists for
good). Rows go in batches of ``DELETE_BATCH`` ids, each its own short transaction, so
the web processes writing impressions never wait long behind the pruning.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from ..models import Event, Experiment, Impression

logger = logging.getLogger(__name__)

#: Rows deleted per statement.
DELETE_BATCH = 10_000
#: Experiments whose every row is kept.
LIVE = (Experiment.Status.RUNNING, Experiment.Status.DRAFT)


@dataclass(frozen=True)
class PrunedData:
    impressions: int
    events: int
    cutoff: dt.datetime | None


def experiment_data_prune(*, days: int | None = None, now: dt.datetime | None = None) -> PrunedData:
    """Delete the impressions and events older than ``days`` (default
    ``VIDEOREC_IMPRESSION_RETENTION_DAYS``; 0 keeps everything) that no running or draft
    experiment needs; returns how many of each went."""
    days = settings.VIDEOREC_IMPRESSION_RETENTION_DAYS if days is None else days
    if days < 0:
        raise ValueError(f"retention must be 0 (keep everything) or more days, not {days}")
    if days == 0:
        return PrunedData(impressions=0, events=0, cutoff=None)
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    live_lists = Impression.objects.filter(experiment__status__in=LIVE).values("request_id")
    # Events first: the live experiments' lists are read before any impression goes.
    events = _delete_in_batches(
        Event.objects.filter(received_at__lt=cutoff)
        .exclude(type=Event.Type.DISLIKE)
        .exclude(request_id__in=live_lists)
    )
    impressions = _delete_in_batches(
        Impression.objects.filter(served_at__lt=cutoff).exclude(experiment__status__in=LIVE)
    )
    if impressions or events:
        logger.info(
            "pruned %d impressions and %d events older than %s", impressions, events, cutoff
        )
    return PrunedData(impressions=impressions, events=events, cutoff=cutoff)


def _delete_in_batches(rows: QuerySet) -> int:
    deleted = 0
    while True:
        ids = list(rows.order_by().values_list("id", flat=True)[:DELETE_BATCH])
        if not ids:
            return deleted
        count, _ = rows.model.objects.filter(id__in=ids).delete()
        deleted += count
