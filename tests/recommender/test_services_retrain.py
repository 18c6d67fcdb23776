"""Retrain requests and the scheduled retrain.

The Celery tasks run eagerly here; the same rules against a real worker that is killed
are in tests/integration/test_celery_worker.py.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from run_states import dead_pid, in_flight

from ingestion.models import Rating
from ingestion.services import rating_upsert
from recommender import tasks
from recommender.engine import training as engine_training
from recommender.models import ModelRun
from recommender.services import retrain
from recommender.services.retrain import retrain_request, retrain_scheduled
from recommender.services.runs import HOST
from recommender.services.training import model_run_create, model_run_execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]

REPO = Path(__file__).resolve().parents[2]


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


# ------------------------------------------------------------------ enqueued by task name
def test_services_enqueue_by_task_name_without_importing_the_tasks() -> None:
    for module in Path(retrain.__file__).parent.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                package = "." * node.level + (node.module or "")
                separator = "." if node.module else ""
                imported.add(package)
                imported.update(f"{package}{separator}{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        assert not imported & {"recommender.tasks", "..tasks"}, module


def test_a_new_process_knows_the_retrain_task_by_name() -> None:
    """Django's start registers the tasks, so a web process can enqueue without a worker."""
    code = "import sys, django; django.setup(); from celery import current_app; "
    code += f"print({retrain.RETRAIN_TASK!r} in current_app.tasks)"
    env = {**os.environ, "DJANGO_READ_DOT_ENV_FILE": "false"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_the_retrain_enqueued_by_name_runs_the_chain_eagerly(
    synthetic_ratings, fast_defaults
) -> None:
    request = retrain_request(triggered_by="test", activate=False)

    run = request.run
    assert (run.status, run.stage, run.is_active) == ("succeeded", "done", False)
    assert set(run.stage_seconds) == {"recall", "ranker", "evaluation"}
    assert run.task_id


def test_a_broker_that_is_down_fails_the_run(synthetic_ratings, monkeypatch) -> None:
    def unreachable(*args, **options):
        raise BrokerError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(current_app.tasks[retrain.RETRAIN_TASK], "delay", unreachable)

    with pytest.raises(retrain.RetrainNotEnqueued, match="broker is unreachable"):
        retrain_request(triggered_by="test")
    run = ModelRun.objects.get()
    assert run.status == "failed"
    assert run.error.startswith("the retrain could not be enqueued: the Celery broker is")
