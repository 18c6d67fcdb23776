"""Run bookkeeping: the stale-run reaper, stage claims, heartbeats.

The Celery tasks run eagerly here; the same rules against a real worker that is killed
are in tests/integration/test_celery_worker.py.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from celery.exceptions import Ignore
from django.db import OperationalError
from django.db.models import QuerySet
from django.utils import timezone
from run_states import dead_pid, in_flight

from recommender import tasks
from recommender.engine import training as engine_training
from recommender.models import ModelRun
from recommender.services.activation import model_run_activate, model_run_rollback
from recommender.services.runs import (
    HOST,
    RunNotRunnable,
    TrainingError,
    model_run_fail,
    model_run_reap_stale,
    model_run_stage,
)
from recommender.services.training import (
    model_run_create,
    model_run_execute,
    recall_tables_build,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


# ------------------------------------------------------------------------------ the reaper
def test_a_run_whose_local_worker_process_died_is_failed(db) -> None:
    pid = dead_pid()
    run = in_flight(worker_host=HOST, worker_pid=pid, heartbeat_at=timezone.now())

    assert model_run_reap_stale() == [run.id]

    run.refresh_from_db()
    assert run.status == "failed"
    assert f"process {pid} on {HOST}" in run.error and "recall" in run.error
    assert not run.is_active


def test_a_run_whose_worker_is_alive_is_left_alone(db) -> None:
    run = in_flight(worker_host=HOST, worker_pid=os.getpid(), heartbeat_at=timezone.now())
    assert model_run_reap_stale() == []
    run.refresh_from_db()
    assert run.status == "running"


def test_a_remote_worker_is_judged_by_its_heartbeat(db, settings) -> None:
    settings.VIDEOREC_TRAINING_HEARTBEAT = 15
    now = timezone.now()
    beating = in_flight(worker_host="elsewhere", worker_pid=1, heartbeat_at=now)
    silent = in_flight(
        worker_host="elsewhere", worker_pid=1, heartbeat_at=now - dt.timedelta(seconds=61)
    )

    assert model_run_reap_stale() == [silent.id]
    silent.refresh_from_db()
    beating.refresh_from_db()
    assert "no heartbeat" in silent.error
    assert beating.status == "running"


def test_without_heartbeats_the_time_limit_is_the_bound(db, settings) -> None:
    settings.VIDEOREC_TRAINING_HEARTBEAT = 0
    settings.VIDEOREC_TRAINING_TIME_LIMIT = 600
    now = timezone.now()
    recent = in_flight(worker_host="elsewhere", worker_pid=1, heartbeat_at=now)
    old = in_flight(
        worker_host="elsewhere", worker_pid=1, heartbeat_at=now - dt.timedelta(seconds=700)
    )

    assert model_run_reap_stale() == [old.id]
    recent.refresh_from_db()
    assert recent.status == "running"


def test_a_run_no_worker_picks_up_fails_after_the_time_limit(db, settings) -> None:
    settings.VIDEOREC_TRAINING_TIME_LIMIT = 600
    waiting = ModelRun.objects.create()
    forgotten = ModelRun.objects.create()
    ModelRun.objects.filter(id=forgotten.id).update(
        created_at=timezone.now() - dt.timedelta(seconds=601)
    )

    assert model_run_reap_stale() == [forgotten.id]
    forgotten.refresh_from_db()
    waiting.refresh_from_db()
    assert "is a worker consuming queue" in forgotten.error
    assert waiting.status == "queued"


def test_a_run_that_died_after_activating_counts_as_succeeded(db) -> None:
    run = ModelRun.objects.create(
        status="running",
        stage="activation",
        is_active=True,
        worker_host=HOST,
        worker_pid=dead_pid(),
        heartbeat_at=timezone.now(),
    )
    model_run_reap_stale()
    run.refresh_from_db()
    assert (run.status, run.stage, run.is_active) == ("succeeded", "done", True)


# ------------------------------------------------------- stages delivered again, or twice
def test_a_stage_delivered_again_after_its_run_was_reaped_does_not_revive_it(
    synthetic_ratings, fast_params
) -> None:
    run = model_run_create(triggered_by="test", params=fast_params)
    ModelRun.objects.filter(id=run.id).update(
        status="running", stage="recall", worker_host=HOST, worker_pid=dead_pid()
    )
    model_run_reap_stale()
    error = ModelRun.objects.get(id=run.id).error

    with pytest.raises(RunNotRunnable, match="has already failed"):
        recall_tables_build(run_id=run.id)
    with pytest.raises(RunNotRunnable):
        model_run_activate(run_id=run.id)
    with pytest.raises(TrainingError, match="it failed"):
        model_run_rollback(run_id=run.id)
    model_run_fail(run_id=run.id, error="a later error callback")

    run.refresh_from_db()
    assert (run.status, run.error, run.is_active) == ("failed", error, False)


def test_a_finished_run_does_not_run_a_stage_again(synthetic_ratings, fast_params) -> None:
    run = model_run_execute(run_id=model_run_create(triggered_by="test", params=fast_params).id)

    with pytest.raises(RunNotRunnable, match="has already succeeded"):
        recall_tables_build(run_id=run.id)
    with pytest.raises(RunNotRunnable):
        model_run_activate(run_id=run.id)

    after = ModelRun.objects.get(id=run.id)
    assert (after.status, after.stage, after.stage_seconds) == (
        "succeeded",
        "done",
        run.stage_seconds,
    )


def test_a_stage_delivered_twice_is_ignored_without_failing_the_run(
    synthetic_ratings, fast_params
) -> None:
    run = model_run_create(triggered_by="test", params=fast_params)
    ModelRun.objects.filter(id=run.id).update(
        status="running", stage="recall", worker_host="elsewhere", worker_pid=4242
    )

    with pytest.raises(Ignore):
        tasks.build_recall_tables(run.id)

    run.refresh_from_db()
    assert (run.status, run.worker_pid, run.error) == ("running", 4242, "")


def test_a_stage_records_its_worker_and_clears_it_when_done(
    synthetic_ratings, fast_params, monkeypatch
) -> None:
    seen: list[tuple[str, int | None]] = []
    fit = engine_training.fit_sources

    def observed(config, data):
        current = ModelRun.objects.get()
        seen.append((current.worker_host, current.worker_pid))
        return fit(config, data)

    monkeypatch.setattr(engine_training, "fit_sources", observed)
    run = model_run_create(triggered_by="test", params=fast_params)
    recall_tables_build(run_id=run.id)

    assert seen == [(HOST, os.getpid())]
    run.refresh_from_db()
    assert (run.status, run.worker_host, run.worker_pid) == ("running", "", None)
    assert run.heartbeat_at is not None


def test_a_long_stage_sends_heartbeats(synthetic_ratings, fast_params, settings, monkeypatch):
    settings.VIDEOREC_TRAINING_HEARTBEAT = 0.1
    beats: list[dt.datetime] = []
    fit = engine_training.fit_sources

    def slow(config, data):
        for _ in range(5):
            time.sleep(0.15)
            beats.append(ModelRun.objects.values_list("heartbeat_at", flat=True).get())
        return fit(config, data)

    monkeypatch.setattr(engine_training, "fit_sources", slow)
    run = model_run_create(triggered_by="test", params=fast_params)
    recall_tables_build(run_id=run.id)

    assert len(set(beats)) >= 3, beats


# ----------------------------------------------------------- failures the database hides
def test_a_stage_failing_while_the_database_is_down_reports_its_own_error(
    db, monkeypatch, caplog, settings
) -> None:
    """The failure handler's UPDATE fails too: the stage's error is what is logged and
    raised, and the reaper fails the run once the database is back."""
    settings.VIDEOREC_TRAINING_HEARTBEAT = 0  # no heartbeat thread touching the database
    run = ModelRun.objects.create()
    real_update = QuerySet.update

    def update_while_down(queryset, **fields):
        if fields.get("status") == ModelRun.Status.FAILED:
            raise OperationalError("server closed the connection unexpectedly")
        return real_update(queryset, **fields)

    with (
        pytest.raises(TrainingError, match="disk full in the stage") as raised,
        model_run_stage(run_id=run.id, stage=ModelRun.Stage.RECALL),
    ):
        monkeypatch.setattr(QuerySet, "update", update_while_down)
        raise OperationalError("disk full in the stage")
    monkeypatch.setattr(QuerySet, "update", real_update)

    assert "disk full in the stage" in str(raised.value.__cause__)
    failure = next(r for r in caplog.records if "failed while recall" in r.getMessage())
    assert "disk full in the stage" in str(failure.exc_info[1])
    assert any("reaper" in r.getMessage() for r in caplog.records)
    run.refresh_from_db()
    assert (run.status, run.worker_pid) == ("running", os.getpid())

    # The database is back; the run's heartbeat is overdue: the reaper finishes the job.
    ModelRun.objects.filter(id=run.id).update(
        heartbeat_at=timezone.now() - dt.timedelta(hours=2), worker_host="elsewhere"
    )
    assert model_run_reap_stale() == [run.id]
    run.refresh_from_db()
    assert run.status == "failed"
