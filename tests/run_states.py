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
