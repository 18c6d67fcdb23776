"""Real Celery workers for the integration tests, each on the test's private queue."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from servers import database_url

from videorec_site import celery_app

REPO = Path(__file__).resolve().parents[2]


Worker = Callable[[], subprocess.Popen]


@pytest.fixture
def worker_env(settings) -> Iterator[dict[str, str]]:
    """The environment of this test's processes: its database, media folder and queue."""
    queue = f"videorec-test-{uuid.uuid4().hex[:8]}"
    celery_app.conf.task_default_queue = queue
    yield {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.test",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "VIDEOREC_TRAINING_HEARTBEAT": "1",
    }
    celery_app.conf.task_default_queue = django_settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    """Starts workers on the test's private queue; all are killed when the test ends.

    Every worker writes to ``worker.log``.
    """
    env, queue = worker_env, worker_env["CELERY_TASK_DEFAULT_QUEUE"]
    log = (tmp_path / "worker.log").open("a")
    processes: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
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
                "--hostname",
                f"test-{uuid.uuid4().hex[:6]}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        connection.close()
