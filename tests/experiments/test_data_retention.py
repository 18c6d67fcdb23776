"""Retention of impressions and events: old rows nobody needs go; a running or draft
experiment's rows and dislikes stay; the command and the beat task call the same service."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from experiments.models import Event, Experiment, Impression
from experiments.services import retention
from experiments.services.retention import experiment_data_prune
from experiments.tasks import prune_old_data

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=40)
RECENT = NOW - dt.timedelta(days=5)


def shown(at: dt.datetime, experiment: Experiment | None = None) -> uuid.UUID:
    request_id = uuid.uuid4()
    Impression.objects.create(
        request_id=request_id, viewer_id=1, experiment=experiment, items=[1, 2], served_at=at
    )
    return request_id


def event(kind: str, at: dt.datetime, request_id: uuid.UUID | None = None) -> Event:
    return Event.objects.create(
        type=kind, user_id=1, item_id=1, request_id=request_id, timestamp=at, received_at=at
    )


@pytest.fixture
def data() -> dict:
    stopped = Experiment.objects.create(name="old", status=Experiment.Status.STOPPED)
    running = Experiment.objects.create(name="now", status=Experiment.Status.RUNNING)
    lists = {
        "plain old": shown(OLD),
        "plain recent": shown(RECENT),
        "stopped old": shown(OLD, stopped),
        "stopped recent": shown(RECENT, stopped),
        "running old": shown(OLD, running),
    }
    events = {
        "click on plain old": event("click", OLD, lists["plain old"]),
        "click on running old": event("click", OLD, lists["running old"]),
        "watch, no list, old": event("watch", OLD),
        "like, recent": event("like", RECENT),
        "dislike, old": event("dislike", OLD),
    }
    return {"lists": lists, "events": events}


def test_old_rows_nobody_needs_are_deleted(data, monkeypatch) -> None:
    monkeypatch.setattr(retention, "DELETE_BATCH", 1)  # several batches

    pruned = experiment_data_prune(days=30, now=NOW)

    assert (pruned.impressions, pruned.events) == (2, 2)
    left = set(Impression.objects.values_list("request_id", flat=True))
    assert left == {data["lists"][k] for k in ("plain recent", "stopped recent", "running old")}
    kept = {k for k, row in data["events"].items() if Event.objects.filter(id=row.id).exists()}
    assert kept == {"click on running old", "like, recent", "dislike, old"}


def test_the_setting_is_the_default_and_zero_keeps_everything(data, settings) -> None:
    settings.VIDEOREC_IMPRESSION_RETENTION_DAYS = 0
    assert experiment_data_prune(now=NOW).cutoff is None
    assert Impression.objects.count() == 5 and Event.objects.count() == 5

    settings.VIDEOREC_IMPRESSION_RETENTION_DAYS = 60
    assert experiment_data_prune(now=NOW).impressions == 0
    settings.VIDEOREC_IMPRESSION_RETENTION_DAYS = 30
    assert experiment_data_prune(now=NOW).impressions == 2


def test_the_command_and_the_beat_task(data, settings) -> None:
    out = StringIO()
    call_command("prune_experiment_data", "--days", "30", stdout=out)
    assert out.getvalue().startswith("Deleted 2 impressions and 2 events older than")
    with pytest.raises(CommandError, match="retention must be 0"):
        call_command("prune_experiment_data", "--days", "-1")

    settings.VIDEOREC_IMPRESSION_RETENTION_DAYS = 1
    assert prune_old_data.apply().get() == {"impressions": 2, "events": 1}
