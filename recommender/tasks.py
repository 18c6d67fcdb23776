"""Celery entry points: thin wrappers that take ids and call one service each."""

from __future__ import annotations

from celery import chain, shared_task
from django.conf import settings

from .services import training

TRAINING_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": False,
    "time_limit": settings.VIDEOREC_TRAINING_TIME_LIMIT,
    "soft_time_limit": settings.VIDEOREC_TRAINING_TIME_LIMIT - 30,
}


@shared_task(name="recommender.build_recall_tables", **TRAINING_TASK_OPTIONS)
def build_recall_tables(run_id: int) -> int:
    training.recall_tables_build(run_id=run_id)
    return run_id


@shared_task(name="recommender.train_ranker", **TRAINING_TASK_OPTIONS)
def train_ranker(run_id: int) -> int:
    training.ranker_train(run_id=run_id)
    return run_id


@shared_task(name="recommender.evaluate_run", **TRAINING_TASK_OPTIONS)
def evaluate_run(run_id: int) -> int:
    training.model_run_evaluate(run_id=run_id)
    return run_id


@shared_task(name="recommender.activate_run")
def activate_run(run_id: int, force: bool = False) -> int:
    training.model_run_activate(run_id=run_id, force=force)
    return run_id


@shared_task(name="recommender.finish_run")
def finish_run(run_id: int) -> int:
    training.model_run_finish(run_id=run_id)
    return run_id


@shared_task(name="recommender.fail_run")
def fail_run(request, exc, traceback, run_id: int) -> None:
    """Error callback of the chain: a stage that died outside the service is recorded."""
    training.model_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}\n{traceback}")


@shared_task(name="recommender.retrain")
def retrain(run_id: int, activate: bool = True, force: bool = False) -> str:
    """Run the stages of ``run_id`` as a chain of tasks; returns the chain's id."""
    steps = [build_recall_tables.si(run_id), train_ranker.si(run_id), evaluate_run.si(run_id)]
    if activate:
        steps.append(activate_run.si(run_id, force))
    steps.append(finish_run.si(run_id))
    result = chain(*steps).apply_async(link_error=fail_run.s(run_id=run_id))
    return result.id
