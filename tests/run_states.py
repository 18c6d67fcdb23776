"""Model runs in the states a crashed or busy worker leaves them in, for service tests."""

from __future__ import annotations

import subprocess

from recommender.models import ModelRun


def dead_pid() -> int:
    """The id of a process of this machine that has exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def in_flight(**fields) -> ModelRun:
    """A run some worker is executing (its recall stage)."""
    return ModelRun.objects.create(status="running", stage="recall", **fields)


def train(params: dict, **options) -> ModelRun:
    """A model run created with ``params`` and trained in-process, every stage."""
    from recommender.services.training import model_run_create, model_run_execute

    run = model_run_create(triggered_by="test", params=params)
    return model_run_execute(run_id=run.id, **options)
