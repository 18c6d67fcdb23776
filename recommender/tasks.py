"""Celery entry points: thin wrappers that take ids and call one service each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import chain, shared_task
from celery.exceptions import Ignore
from celery.signals import worker_ready
from django.conf import settings

from .services.activation import model_run_activate, model_run_finish
from .services.batch import recommendations_chunk
from .services.retrain import retrain_scheduled
from .services.runs import RunNotRunnable, model_run_fail, model_run_reap_stale
from .services.training import model_run_evaluate, ranker_train, recall_tables_build

logger = logging.getLogger(__name__)

TRAINING_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": False,
    "time_limit": settings.VIDEOREC_TRAINING_TIME_LIMIT,
    "soft_time_limit": settings.VIDEOREC_TRAINING_TIME_LIMIT - 30,
}


def _run_stage(service: Callable[..., Any], run_id: int, **options: Any) -> int:
    """Call a stage service; a stage its run does not accept ends the chain quietly.

    That happens to a message the broker delivers again after its worker died (the run
    was reaped meanwhile) or twice at once. ``Ignore`` stops the chain without calling
    the error callback, which would otherwise fail a run another worker is executing.
    """
    try:
        service(run_id=run_id, **options)
    except RunNotRunnable as exc:
        logger.warning("stage not run: %s", exc)
        raise Ignore() from exc
    return run_id


@shared_task(name="recommender.build_recall_tables", **TRAINING_TASK_OPTIONS)
def build_recall_tables(run_id: int) -> int:
    return _run_stage(recall_tables_build, run_id)


@shared_task(name="recommender.train_ranker", **TRAINING_TASK_OPTIONS)
def train_ranker(run_id: int) -> int:
    return _run_stage(ranker_train, run_id)


@shared_task(name="recommender.evaluate_run", **TRAINING_TASK_OPTIONS)
def evaluate_run(run_id: int) -> int:
    return _run_stage(model_run_evaluate, run_id)


@shared_task(name="recommender.activate_run")
def activate_run(run_id: int, force: bool = False) -> int:
    return _run_stage(model_run_activate, run_id, force=force)


@shared_task(name="recommender.finish_run")
def finish_run(run_id: int) -> int:
    return _run_stage(model_run_finish, run_id)


@shared_task(name="recommender.fail_run")
def fail_run(request, exc, traceback, run_id: int) -> None:
    """Error callback of the chain: a stage that died outside the service is recorded."""
    model_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}\n{traceback}")


@shared_task(name="recommender.retrain")
def retrain(run_id: int, activate: bool = True, force: bool = False) -> str:
    """Run the stages of ``run_id`` as a chain of tasks; returns the chain's id."""
    steps = [build_recall_tables.si(run_id), train_ranker.si(run_id), evaluate_run.si(run_id)]
    if activate:
        steps.append(activate_run.si(run_id, force))
    steps.append(finish_run.si(run_id))
    result = chain(*steps).apply_async(link_error=fail_run.s(run_id=run_id))
    return result.id


@shared_task(name="recommender.recommend_chunk")
def recommend_chunk(viewer_ids: list[int], topk: int) -> list[list[int | str]]:
    """One chunk of a batch export (``manage.py recommend --all``): its TSV rows."""
    return recommendations_chunk(viewer_ids=viewer_ids, topk=topk)


@shared_task(name="recommender.scheduled_retrain")
def scheduled_retrain() -> str:
    """The periodic retrain (django-celery-beat); returns what it did or why it skipped."""
    return retrain_scheduled()


@shared_task(name="recommender.reap_stale_runs")
def reap_stale_runs() -> list[int]:
    """Periodically: mark failed the runs whose worker died; returns their ids."""
    return model_run_reap_stale()


@worker_ready.connect
def reap_when_a_worker_starts(**kwargs: Any) -> None:
    """A worker (re)starting after a crash fails the run its predecessor left running."""
    reaped = model_run_reap_stale()
    if reaped:
        logger.warning("runs marked failed at worker start: %s", reaped)
