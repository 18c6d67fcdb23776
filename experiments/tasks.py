"""Celery entry points of the experiments app (thin: the services do the work)."""

from __future__ import annotations

from celery import shared_task

from .services.retention import experiment_data_prune


@shared_task(name="experiments.prune_old_data")
def prune_old_data() -> dict[str, int]:
    """Beat's nightly retention pass over impressions and events."""
    pruned = experiment_data_prune()
    return {"impressions": pruned.impressions, "events": pruned.events}
