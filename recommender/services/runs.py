"""Bookkeeping of a model run's execution: stage claims, heartbeats, the stale-run reaper.

A stage is executed by exactly one process: claiming it is one conditional UPDATE, and
while it runs a background thread keeps the run's heartbeat fresh. A run whose worker
died (the process is gone, or its heartbeats stopped, or no worker took its next stage)
is marked failed by the reaper, and a stage delivered again for it refuses to run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import ModelRun

logger = logging.getLogger(__name__)

Stage = ModelRun.Stage
Status = ModelRun.Status

#: Keys of the PostgreSQL advisory locks that serialise retrain requests and activations.
RETRAIN_LOCK_KEY = 0x56524543  # "VREC"
ACTIVATION_LOCK_KEY = RETRAIN_LOCK_KEY + 1
#: This machine, as recorded on the runs whose stages it executes.
HOST = socket.gethostname()


class TrainingError(Exception):
    """A model run failed; the message says which stage and why."""


class RunNotRunnable(TrainingError):
    """A stage was delivered for a run that is finished, failed, or busy in another process.

    Raised before the stage touches anything: the run keeps its state. This is what a
    message redelivered by the broker (``acks_late``) meets after its run was reaped.
    """


@contextmanager
def model_run_stage(*, run_id: int, stage: str) -> Iterator[ModelRun]:
    """Execute one stage of an in-flight run in this process, recorded on the run.

    Claiming the stage is one conditional UPDATE: it succeeds only for a queued or
    running run that no other process is executing, so a stage delivered twice, or
    delivered for a failed or finished run, never flips that run back to running. A stage
    that raises marks the run failed with the traceback and raises :class:`TrainingError`.
    """
    now, pid = timezone.now(), os.getpid()
    claimed = ModelRun.objects.filter(
        id=run_id, status__in=ModelRun.IN_FLIGHT, worker_pid__isnull=True
    ).update(
        status=Status.RUNNING,
        stage=stage,
        started_at=Coalesce("started_at", now),
        worker_host=HOST,
        worker_pid=pid,
        heartbeat_at=now,
    )
    if not claimed:
        raise RunNotRunnable(_refusal(run_id, stage))
    run = ModelRun.objects.get(id=run_id)
    logger.info("run %s: %s", run_id, run.get_stage_display())
    started = time.perf_counter()
    try:
        with _heartbeat(run_id, pid):
            yield run
    except Exception as exc:
        # Logged before recording it: when the database itself is what failed, the UPDATE
        # below fails too, and its error must not be the only trace of this one.
        logger.exception("run %s failed while %s", run_id, stage)
        _record_failure(run_id, traceback.format_exc())
        raise TrainingError(f"run {run_id} failed while {stage}: {exc}") from exc
    seconds = round(time.perf_counter() - started, 3)
    ModelRun.objects.filter(id=run_id).update(
        stage_seconds={**ModelRun.objects.get(id=run_id).stage_seconds, stage: seconds},
        worker_host="",
        worker_pid=None,
        heartbeat_at=timezone.now(),
    )


def _record_failure(run_id: int, error: str) -> None:
    """Mark the run failed; if the database refuses, leave it to the stale-run reaper.

    The run then still names this process, whose heartbeats have stopped with the stage,
    so the reaper fails it once the database answers again.
    """
    try:
        ModelRun.objects.filter(id=run_id).update(
            status=Status.FAILED, error=error, finished_at=timezone.now()
        )
    except DatabaseError as exc:
        logger.error(
            "run %s: its failure could not be recorded (%s); the stale-run reaper will mark "
            "it failed once its heartbeat is overdue",
            run_id,
            exc,
        )


def model_run_fail(*, run_id: int, error: str) -> None:
    """Record a failure that happened outside a stage (e.g. a lost worker).

    Only an in-flight run changes: a finished run keeps its state and its first error.
    """
    ModelRun.objects.filter(id=run_id, status__in=ModelRun.IN_FLIGHT).update(
        status=Status.FAILED, error=error, finished_at=timezone.now()
    )


def model_run_reap_stale() -> list[int]:
    """Mark failed every in-flight run whose worker is gone; returns their ids.

    A run is stale when the process executing its stage has died (checked directly when
    it ran on this machine), when that stage stopped sending heartbeats, or when no
    worker has started its next stage within ``VIDEOREC_TRAINING_TIME_LIMIT``. A stage
    delivered again later for a reaped run refuses to run (see :class:`RunNotRunnable`).
    Called when a worker starts, periodically by beat, and before every retrain request.
    """
    now = timezone.now()
    reaped = []
    for run in ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT):
        reason = _stale_reason(run, now)
        if reason is None:
            continue
        # Only if nothing moved since we looked: a stage that just started is not stale.
        unchanged = ModelRun.objects.filter(
            id=run.id,
            status__in=ModelRun.IN_FLIGHT,
            worker_pid=run.worker_pid,
            heartbeat_at=run.heartbeat_at,
        )
        if run.is_active:
            # Died after activating, before finishing: the run serves, so it succeeded.
            unchanged.update(status=Status.SUCCEEDED, stage=Stage.DONE, finished_at=now)
            continue
        if unchanged.update(status=Status.FAILED, error=reason, finished_at=now):
            logger.warning("run %s marked failed: %s", run.id, reason)
            reaped.append(run.id)
    return reaped


def advisory_lock(*, key: int) -> None:
    """Serialise a check-then-write transaction across processes, until it ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite needs none: this project opens
    every SQLite transaction with ``BEGIN IMMEDIATE``, which takes the database's write
    lock before the check.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _refusal(run_id: int, stage: str) -> str:
    run = ModelRun.objects.filter(id=run_id).first()
    if run is None:
        return f"there is no model run {run_id}"
    if run.status in ModelRun.IN_FLIGHT:
        return (
            f"run {run_id} is already executing its {run.stage} stage in process "
            f"{run.worker_pid} on {run.worker_host}; {stage} is not started twice"
        )
    return f"run {run_id} has already {run.status}; its {stage} stage is not run again"


@contextmanager
def _heartbeat(run_id: int, pid: int) -> Iterator[None]:
    """Refresh the run's ``heartbeat_at`` from a background thread while a stage runs.

    Training releases the GIL in numpy and LightGBM, so the thread keeps beating during
    long fits; a worker that dies stops beating, which is what the reaper notices for
    workers on other machines.
    """
    interval = settings.VIDEOREC_TRAINING_HEARTBEAT
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    ModelRun.objects.filter(id=run_id, worker_pid=pid).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:
                    logger.warning("run %s: heartbeat not recorded", run_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name=f"run-{run_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _stale_reason(run: ModelRun, now: dt.datetime) -> str | None:
    """Why an in-flight run cannot finish any more, or None while it still may."""
    if run.worker_pid is not None:
        where = f"process {run.worker_pid} on {run.worker_host}"
        if run.worker_host == HOST and not _process_alive(run.worker_pid):
            return f"the worker ({where}) died while in the {run.stage} stage"
        silent = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else 0.0
        if silent > _heartbeat_timeout():
            return (
                f"no heartbeat from the worker ({where}) for {silent:.0f} s "
                f"in the {run.stage} stage"
            )
        return None
    waiting = (now - (run.heartbeat_at or run.created_at)).total_seconds()
    if waiting > settings.VIDEOREC_TRAINING_TIME_LIMIT:
        step = "picked it up" if run.status == Status.QUEUED else f"went on after {run.stage}"
        return (
            f"no worker {step} within {waiting:.0f} s "
            f"(is a worker consuming queue {settings.CELERY_TASK_DEFAULT_QUEUE}?)"
        )
    return None


def _heartbeat_timeout() -> float:
    """Silence after which a stage's worker counts as dead.

    Several missed beats; without heartbeats, the task time limit (after which the worker
    pool has killed the stage anyway) plus a minute.
    """
    interval = settings.VIDEOREC_TRAINING_HEARTBEAT
    if interval > 0:
        return 4.0 * interval
    return settings.VIDEOREC_TRAINING_TIME_LIMIT + 60.0


def _process_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
