"""Celery tasks, executed eagerly in-process (the real-broker run is in tests/integration)."""

from __future__ import annotations

import pytest

from recommender import tasks
from recommender.engine import training as engine_training
from recommender.models import ModelRun
from recommender.services.training import model_run_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


def test_retrain_chain_runs_every_stage(synthetic_ratings, fast_params) -> None:
    run = model_run_create(triggered_by="test", params=fast_params)

    tasks.retrain.delay(run.id)

    run.refresh_from_db()
    assert (run.status, run.stage, run.is_active) == ("succeeded", "done", True)
    assert set(run.stage_seconds) == {"recall", "ranker", "evaluation", "activation"}


def test_retrain_without_activation(synthetic_ratings, fast_params) -> None:
    run = model_run_create(triggered_by="test", params=fast_params)
    tasks.retrain.delay(run.id, activate=False)
    run.refresh_from_db()
    assert (run.status, run.is_active) == ("succeeded", False)


def test_a_failing_task_leaves_the_previous_run_active(
    synthetic_ratings, fast_params, monkeypatch
) -> None:
    first = model_run_create(triggered_by="test", params=fast_params)
    tasks.retrain.delay(first.id)

    def broken(config, data):
        raise MemoryError("out of memory while featurising")

    monkeypatch.setattr(engine_training, "fit_sources", broken)
    second = model_run_create(triggered_by="test", params=fast_params)
    with pytest.raises(Exception, match="out of memory"):
        tasks.retrain.delay(second.id)

    second.refresh_from_db()
    assert (second.status, second.stage) == ("failed", "recall")
    assert "MemoryError" in second.error
    assert ModelRun.objects.get(is_active=True).id == first.id


def test_the_error_callback_marks_a_lost_run_failed(synthetic_ratings, fast_params) -> None:
    run = model_run_create(triggered_by="test", params=fast_params)
    ModelRun.objects.filter(id=run.id).update(status="running", stage="ranker")

    tasks.fail_run(None, RuntimeError("worker lost"), "traceback text", run_id=run.id)

    run.refresh_from_db()
    assert run.status == "failed"
    assert "RuntimeError: worker lost" in run.error
