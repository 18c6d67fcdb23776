"""Retrains on a real broker, executed by a real Celery worker process.

Runs in the PostgreSQL/Redis pass of CI (``CELERY_BROKER_URL`` set); skipped with the
embedded defaults, where tasks run eagerly in-process (covered by the other tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from recommender.models import ModelRun
from recommender.services.training import model_run_create
from recommender.tasks import retrain
from videorec_site import celery_app

REPO = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not BROKER, reason="needs CELERY_BROKER_URL (the services pass of CI)"),
    pytest.mark.django_db(transaction=True),
]


def database_url() -> str:
    """The URL of the database this test session really uses (pytest-django's copy)."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def worker(settings, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A worker on a private queue, sharing this test's database and media folder."""
    queue = f"videorec-test-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.test",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "videorec_site",
            "worker",
            "--pool",
            "solo",
            "--queues",
            queue,
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        celery_app.conf.task_default_queue = django_settings.CELERY_TASK_DEFAULT_QUEUE
        connection.close()


def wait_for(run_id: int, timeout: float = 180) -> ModelRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ModelRun.objects.get(id=run_id)
        if run.status in (ModelRun.Status.SUCCEEDED, ModelRun.Status.FAILED):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {run.status}/{run.stage} after {timeout} s")


def test_an_enqueued_retrain_completes_on_the_worker(
    worker, synthetic_ratings, fast_params, tmp_path: Path
) -> None:
    run = model_run_create(triggered_by="integration test", params=fast_params)

    retrain.delay(run.id)
    run = wait_for(run.id)

    assert run.status == ModelRun.Status.SUCCEEDED, run.error
    assert run.is_active
    assert set(run.stage_seconds) == {"recall", "ranker", "evaluation", "activation"}
    assert Path(run.artifact.path).is_file()
    assert "recommender.evaluate_run" in (tmp_path / "worker.log").read_text()
