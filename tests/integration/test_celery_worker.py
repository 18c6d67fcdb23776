"""Retrains on a real broker, executed by real Celery worker processes.

Runs in the PostgreSQL/Redis pass of CI (``CELERY_BROKER_URL`` set); skipped with the
embedded defaults, where tasks run eagerly in-process (covered by the other tests).
Each test starts its workers on a private queue and kills them when it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django_celery_results.models import TaskResult
from servers import database_url

from recommender.models import ModelRun
from recommender.services import retrain as retrain_service
from recommender.services.retrain import retrain_request
from recommender.services.training import model_run_create, model_run_execute
from recommender.tasks import activate_run, build_recall_tables, retrain, scheduled_retrain

REPO = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not BROKER, reason="needs CELERY_BROKER_URL (the services pass of CI)"),
    pytest.mark.django_db(transaction=True),
]
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): holds a table lock to stop a stage midway",
)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")


def finished(run_id: int, timeout: float = 180) -> ModelRun:
    def done() -> ModelRun | None:
        run = ModelRun.objects.get(id=run_id)
        return run if run.status in ("succeeded", "failed") else None

    return wait_until(done, f"run {run_id} to finish", timeout)


def test_an_enqueued_retrain_completes_on_the_worker(
    start_worker, synthetic_ratings, fast_params, tmp_path: Path
) -> None:
    start_worker()
    run = model_run_create(triggered_by="integration test", params=fast_params)

    retrain.delay(run.id)
    run = finished(run.id)

    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    assert run.is_active
    assert set(run.stage_seconds) == {"recall", "ranker", "evaluation", "activation"}
    assert (run.worker_host, run.worker_pid) == ("", None)
    assert Path(run.artifact.path).is_file()
    assert "recommender.evaluate_run" in (tmp_path / "worker.log").read_text()
    # django-celery-results keeps every task's outcome.
    for name in ("recommender.retrain", "recommender.build_recall_tables",
                 "recommender.evaluate_run", "recommender.finish_run"):  # fmt: skip
        assert TaskResult.objects.filter(task_name=name, status="SUCCESS").exists(), name

    # Nothing changed since: the nightly retrain skips itself and says why.
    outcome = scheduled_retrain.delay().get(timeout=60)
    assert outcome == f"skipped: no rating changed since run {run.id}"
    assert ModelRun.objects.count() == 1
    recorded = TaskResult.objects.get(task_name="recommender.scheduled_retrain")
    assert "skipped: no rating changed" in recorded.result


@needs_postgresql
def test_a_worker_killed_midway_leaves_the_run_failed_and_the_old_model_serving(
    start_worker, synthetic_ratings, fast_params, client, tmp_path: Path
) -> None:
    previous = model_run_execute(
        run_id=model_run_create(triggered_by="previous", params=fast_params).id
    )
    assert previous.is_active
    run = model_run_create(triggered_by="integration test", params=fast_params)
    worker = start_worker()

    # The recall stage ends by rewriting the run's recall tables; holding a lock on that
    # table stops the worker exactly there, in the middle of a training.
    blocker = psycopg.connect(database_url())
    try:
        blocker.execute("LOCK TABLE recommender_itemneighbor IN EXCLUSIVE MODE")
        retrain.delay(run.id)
        wait_until(
            lambda: blocker.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'recommender_itemneighbor' AND NOT l.granted"
            ).fetchone()[0],
            "the worker to reach the end of the recall stage",
        )
        midway = ModelRun.objects.get(id=run.id)
        assert (midway.status, midway.stage) == ("running", "recall")
        assert midway.worker_pid == worker.pid
        # The heartbeat thread keeps beating while the stage itself is blocked.
        first_beat = midway.heartbeat_at
        wait_until(
            lambda: ModelRun.objects.get(id=run.id).heartbeat_at > first_beat,
            "a heartbeat from the blocked stage",
            timeout=10,
        )

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()

    # Nobody noticed yet: without the reaper this run would stay "running" for ever.
    assert ModelRun.objects.get(id=run.id).status == "running"
    served = client.get("/recommend/3", HTTP_ACCEPT="application/json").json()
    assert served["model_run"] == previous.id

    started = time.monotonic()
    start_worker()  # a new worker reaps what its dead predecessor left behind
    failed = finished(run.id, timeout=60)
    reaped_after = time.monotonic() - started
    assert failed.status == "failed", failed.status
    assert f"process {worker.pid}" in failed.error and "recall" in failed.error
    assert not failed.is_active
    assert ModelRun.objects.get(is_active=True).id == previous.id
    assert client.get("/recommend/3").json()["model_run"] == previous.id
    print(f"run reaped {reaped_after:.1f} s after the new worker started")

    # The broker may deliver the lost stage again (acks_late); it must change nothing.
    build_recall_tables.delay(run.id)
    activate_run.delay(run.id, True)
    log = tmp_path / "worker.log"
    wait_until(
        lambda: log.read_text().count("stage not run") >= 2,
        "the worker to refuse the stages delivered again",
        timeout=60,
    )
    again = ModelRun.objects.get(id=run.id)
    assert (again.status, again.error, again.is_active) == ("failed", failed.error, False)
    assert ModelRun.objects.get(is_active=True).id == previous.id


def test_retrains_requested_at_once_run_once_and_activate_one_run(
    start_worker, synthetic_ratings, fast_defaults
) -> None:
    start_worker()
    barrier = threading.Barrier(4)
    requests: list[retrain_service.RetrainRequest] = []

    def request() -> None:
        try:
            barrier.wait()
            requests.append(retrain_request(triggered_by="thread"))
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(requests) == 4
    assert sum(r.created for r in requests) == 1
    (run_id,) = {r.run.id for r in requests}
    run = finished(run_id)
    assert run.status == "succeeded", run.error

    # Two runs pushed past the request check (straight onto the queue) still end with
    # exactly one active run.
    runs = [model_run_create(triggered_by="direct") for _ in range(2)]
    for extra in runs:
        retrain.delay(extra.id, force=True)
    for extra in runs:
        assert finished(extra.id).status == "succeeded"
    assert ModelRun.objects.filter(is_active=True).count() == 1
    assert ModelRun.objects.get(is_active=True).id == runs[-1].id


def test_train_async_routes_the_retrain_to_the_worker(
    start_worker, worker_env, synthetic_ratings
) -> None:
    start_worker()
    enqueued = subprocess.run(
        [sys.executable, "manage.py", "train", "--async"],
        cwd=REPO,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert enqueued.returncode == 0, enqueued.stderr
    run = ModelRun.objects.get()
    assert f"Model run {run.id}: 840 ratings; enqueued as task {run.task_id}" in enqueued.stdout

    run = finished(run.id, timeout=300)
    assert (run.status, run.is_active, run.triggered_by) == (
        "succeeded",
        True,
        "manage.py train --async",
    ), run.error
