"""Retrain requests: the one place that hands a retrain to Celery.

The task is looked up by its registered name rather than imported, so services never
import the Celery entry points that call them. Without a broker Celery runs tasks
eagerly (``CELERY_TASK_ALWAYS_EAGER``), and the whole chain executes inside the request,
unless ``VIDEOREC_RETRAIN_IN_PROCESS`` forbids it (production settings: a web server's
worker timeout would kill the training halfway).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from celery import current_app
from celery.result import AsyncResult
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from ingestion import selectors as data_selectors

from ..models import ModelRun
from ..selectors import tasks_run_in_process
from .runs import (
    RETRAIN_LOCK_KEY,
    TrainingError,
    advisory_lock,
    model_run_fail,
    model_run_reap_stale,
)
from .training import model_run_create

logger = logging.getLogger(__name__)

#: Name of the Celery task that chains a run's stages (``recommender.tasks.retrain``).
RETRAIN_TASK = "recommender.retrain"


class RetrainNotEnqueued(TrainingError):
    """No worker will run the retrain: the broker did not take it (its run is marked
    failed), or there is no broker and these settings forbid training in this process."""


NO_BROKER = (
    "no Celery broker is configured (CELERY_BROKER_URL), and these settings do not train "
    "inside the calling process, where the web server's timeout would kill the retrain; "
    "configure a broker and start a worker, or run `manage.py train` on the server"
)


@dataclass(frozen=True)
class RetrainRequest:
    run: ModelRun
    #: False when a retrain was already queued or running: ``run`` is that one.
    created: bool


def retrain_request(
    *,
    triggered_by: str,
    activate: bool = True,
    force: bool = False,
    params: dict[str, Any] | None = None,
) -> RetrainRequest:
    """Start a retrain on Celery, unless one is already queued or running.

    At most one retrain is in flight: a request meanwhile gets the in-flight run back
    (``created=False``) instead of a second one. The check and the creation hold a lock,
    so simultaneous requests cannot both create a run. Runs whose worker died are reaped
    first, so they never block a new retrain. Without a broker, when
    ``VIDEOREC_RETRAIN_IN_PROCESS`` is off, nothing is created and
    :class:`RetrainNotEnqueued` says why.
    """
    if tasks_run_in_process() and not settings.VIDEOREC_RETRAIN_IN_PROCESS:
        raise RetrainNotEnqueued(NO_BROKER)
    model_run_reap_stale()
    with transaction.atomic():
        advisory_lock(key=RETRAIN_LOCK_KEY)
        in_flight = ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT).order_by("id").first()
        if in_flight is not None:
            return RetrainRequest(run=in_flight, created=False)
        run = model_run_create(triggered_by=triggered_by, params=params)
    try:
        result = _retrain_enqueue(run_id=run.id, activate=activate, force=force)
    except BrokerError as exc:
        message = f"the retrain could not be enqueued: the Celery broker is unreachable ({exc})"
        model_run_fail(run_id=run.id, error=message)
        raise RetrainNotEnqueued(f"run {run.id}: {message}") from exc
    except TrainingError:
        # Without a broker the stages ran right here; the run records the failure.
        pass
    else:
        ModelRun.objects.filter(id=run.id, task_id="").update(task_id=result.id)
    run.refresh_from_db()
    return RetrainRequest(run=run, created=True)


def retrain_scheduled() -> str:
    """What the periodic schedule runs: a retrain, unless the ratings did not change.

    Compares the ratings with the snapshot of the last succeeded run (inserts, updates
    and deletions all count). Returns what happened, in words, for the task result.
    """
    last = ModelRun.objects.filter(status=ModelRun.Status.SUCCEEDED).order_by("-id").first()
    if last is not None and not data_selectors.ratings_changed_since(last.data_snapshot):
        outcome = f"skipped: no rating changed since run {last.id}"
    else:
        request = retrain_request(triggered_by="schedule")
        verb = "enqueued" if request.created else "skipped: already in flight,"
        outcome = f"{verb} run {request.run.id}"
    logger.info("scheduled retrain %s", outcome)
    return outcome


def _retrain_enqueue(*, run_id: int, activate: bool, force: bool) -> AsyncResult:
    """Send the retrain task, by name, to the broker (or run it here when eager).

    ``delay`` of the registered task honours ``task_always_eager``; ``send_task`` would
    not. The app registers its tasks when Django starts (``RecommenderConfig.ready``).
    """
    return current_app.tasks[RETRAIN_TASK].delay(run_id, activate=activate, force=force)
