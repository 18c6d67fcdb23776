"""Retrain requests and the scheduled retrain.

The Celery tasks run eagerly here; the same rules against a real worker that is killed
are in tests/integration/test_celery_worker.py.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone
from run_states import dead_pid, in_flight

from ingestion.models import Rating
from ingestion.services import rating_upsert
from recommender import tasks
from recommender.engine.pipeline import RecommenderPipeline
from recommender.models import ModelRun
from recommender.services import retrain
from recommender.services.retrain import retrain_request, retrain_scheduled
from recommender.services.runs import HOST
from recommender.services.training import model_run_create, model_run_execute

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
    def broken(self, data):
        raise MemoryError("out of memory")

    monkeypatch.setattr(RecommenderPipeline, "fit_sources", broken)

    run = retrain_request(triggered_by="test").run

    assert run.status == "failed" and "MemoryError" in run.error


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): concurrent requests from threads",
)
def test_simultaneous_requests_create_one_run(synthetic_ratings, no_worker) -> None:
    barrier = threading.Barrier(6)
    results: list[retrain.RetrainRequest] = []

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
