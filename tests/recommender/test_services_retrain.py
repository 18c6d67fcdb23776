"""Retrain requests, the stale-run reaper, heartbeats and the scheduled retrain.

The Celery tasks run eagerly here; the same rules against a real worker that is killed
are in tests/integration/test_celery_worker.py.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
from celery.exceptions import Ignore
from django.db import connection
from django.utils import timezone

from ingestion.models import Rating
from ingestion.services import rating_upsert
from recommender import tasks
from recommender.engine import training as engine_training
from recommender.models import ModelRun
from recommender.services import training
from recommender.services.training import (
    HOST,
    RunNotRunnable,
    TrainingError,
    model_run_activate,
    model_run_create,
    model_run_execute,
    model_run_fail,
    model_run_reap_stale,
    model_run_rollback,
    recall_tables_build,
    retrain_request,
    retrain_scheduled,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


@pytest.fixture
def no_worker(monkeypatch) -> list[int]:
    """``retrain.delay`` only records the run ids, as if a worker had not started yet."""
    enqueued: list[int] = []

    def delay(run_id: int, **options) -> SimpleNamespace:
        enqueued.append(run_id)
        return SimpleNamespace(id=f"task-{run_id}")

    monkeypatch.setattr(tasks.retrain, "delay", delay)
    return enqueued


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def in_flight(**fields) -> ModelRun:
    return ModelRun.objects.create(status="running", stage="recall", **fields)


# ----------------------------------------------------------------------- retrain requests
def test_a_request_enqueues_a_new_run(synthetic_ratings, no_worker) -> None:
    request = retrain_request(triggered_by="test")

    assert request.created
    assert (request.run.status, request.run.task_id) == ("queued", f"task-{request.run.id}")
    assert no_worker == [request.run.id]


def test_a_request_while_a_retrain_is_in_flight_returns_that_run(
    synthetic_ratings, no_worker
) -> None:
    first = retrain_request(triggered_by="first").run

    second = retrain_request(triggered_by="second")

    assert (second.created, second.run.id) == (False, first.id)
    assert ModelRun.objects.count() == 1
    assert no_worker == [first.id]


def test_a_run_whose_worker_died_does_not_block_the_next_request(
    synthetic_ratings, no_worker
) -> None:
    dead = in_flight(worker_host=HOST, worker_pid=dead_pid(), heartbeat_at=timezone.now())

    request = retrain_request(triggered_by="test")

    assert request.created and request.run.id != dead.id
    dead.refresh_from_db()
    assert dead.status == "failed"


def test_without_a_broker_the_request_trains_in_process(synthetic_ratings, fast_defaults) -> None:
    request = retrain_request(triggered_by="test")

    assert request.created
    assert (request.run.status, request.run.is_active) == ("succeeded", True)


def test_a_failure_in_process_is_recorded_on_the_returned_run(
    synthetic_ratings, fast_defaults, monkeypatch
) -> None:
    def broken(config, data):
        raise MemoryError("out of memory")

    monkeypatch.setattr(engine_training, "fit_sources", broken)

    run = retrain_request(triggered_by="test").run

    assert run.status == "failed" and "MemoryError" in run.error


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): concurrent requests from threads",
)
def test_simultaneous_requests_create_one_run(synthetic_ratings, no_worker) -> None:
    barrier = threading.Barrier(6)
    results: list[training.RetrainRequest] = []

    def request() -> None:
        try:
            barrier.wait()
            results.append(retrain_request(triggered_by="thread"))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(results) == 6
    assert sum(result.created for result in results) == 1
    assert len({result.run.id for result in results}) == 1
    assert ModelRun.objects.count() == 1
    assert len(no_worker) == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): concurrent activations from threads",
)
def test_simultaneous_activations_leave_one_active_run(db) -> None:
    runs = [ModelRun.objects.create(status="running", stage="evaluation") for _ in range(6)]
    barrier = threading.Barrier(len(runs))
    errors: list[Exception] = []

    def activate(run_id: int) -> None:
        try:
            barrier.wait()
            model_run_activate(run_id=run_id, force=True)
        except Exception as exc:  # an IntegrityError here would be the bug
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(run.id,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ModelRun.objects.filter(is_active=True).count() == 1


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


# ----------------------------------------------------------------------- scheduled retrain
def test_the_schedule_trains_when_no_run_succeeded_yet(synthetic_ratings, no_worker) -> None:
    outcome = retrain_scheduled()
    run = ModelRun.objects.get()
    assert outcome == f"enqueued run {run.id}"
    assert run.triggered_by == "schedule"


def test_the_schedule_skips_when_no_rating_changed(
    synthetic_ratings, fast_defaults, no_worker
) -> None:
    last = model_run_execute(run_id=model_run_create(triggered_by="test").id)

    assert retrain_scheduled() == f"skipped: no rating changed since run {last.id}"
    assert ModelRun.objects.count() == 1
    assert no_worker == []


@pytest.mark.parametrize("change", ["update", "insert"])
def test_the_schedule_retrains_after_a_rating_changed(
    synthetic_ratings, fast_defaults, no_worker, change: str
) -> None:
    model_run_execute(run_id=model_run_create(triggered_by="test").id)
    rated = dict(Rating.objects.filter(viewer_id=1).values_list("movie_id", "score"))
    if change == "update":
        movie_id = next(iter(rated))
        rating_upsert(viewer_id=1, movie_id=movie_id, score=6 - rated[movie_id])
    else:
        movie_id = next(m for m in range(1, 41) if m not in rated)
        rating_upsert(viewer_id=1, movie_id=movie_id, score=4)

    outcome = retrain_scheduled()

    assert outcome.startswith("enqueued run")
    assert len(no_worker) == 1


def test_the_schedule_does_not_start_a_second_retrain(synthetic_ratings, no_worker) -> None:
    running = in_flight(heartbeat_at=timezone.now())
    assert retrain_scheduled() == f"skipped: already in flight, run {running.id}"
    assert no_worker == []
