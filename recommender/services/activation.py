"""Which run serves: activation after a retrain, the operator's rollback, finishing a run.

Switches are serialised (an advisory lock, then row locks), so exactly one run is
active; the registry records the switch and announces it to every process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.engine.artifacts import ArtifactError

from .. import registry
from ..models import ModelRun
from ..selectors import recall_tables_published
from .artifacts import model_run_artifacts_prune
from .recall_tables import recall_tables_prune, recall_tables_publish
from .runs import (
    ACTIVATION_LOCK_KEY,
    RunNotRunnable,
    TrainingError,
    advisory_lock,
    model_run_stage,
)

logger = logging.getLogger(__name__)

Stage = ModelRun.Stage
Status = ModelRun.Status

#: Metric that decides whether a new run may replace the active one.
GATE_METRIC = "ndcg@10"
#: Why a run that did not succeed cannot serve, by its status.
NOT_SERVABLE = {
    Status.FAILED: "it failed",
    Status.QUEUED: "it has not started training yet",
    Status.RUNNING: "it is still training",
}


def model_run_activate(*, run_id: int, force: bool = False) -> bool:
    """The activation stage of a retrain: serve the run unless it is worse than the active one.

    "Worse" means its NDCG@10 is below the active run's by more than
    ``VIDEOREC_ACTIVATION_MARGIN``; ``force`` skips that check. Only a run in flight is
    activated this way, so a stage delivered again after its run finished or failed can
    never activate it; going back to an earlier run is :func:`model_run_rollback`.
    """
    with model_run_stage(run_id=run_id, stage=Stage.ACTIVATION):
        return _activate(run_id, force=force, required=Status.RUNNING)


def model_run_rollback(*, run_id: int) -> ModelRun:
    """Make an earlier succeeded run the one that serves, whatever its metrics.

    The operator's rollback: not a stage of a retrain, so the run's status and stage stay
    as they are, and there is no quality gate. Refused with a :class:`TrainingError`
    saying why for a run that did not succeed or whose artifact does not load (so the
    database never names an active run that no process can serve). Recall tables pruned
    since the run was trained are republished from its artifact.
    """
    run = ModelRun.objects.filter(id=run_id).first()
    if run is None:
        raise TrainingError(f"there is no model run {run_id}")
    if run.status != Status.SUCCEEDED:
        raise TrainingError(
            f"run {run_id} cannot be activated: {NOT_SERVABLE[run.status]}; "
            "only succeeded runs can serve"
        )
    if run.is_active:
        return run
    if not run.artifact:
        raise TrainingError(f"run {run_id} cannot be activated: it has no model artifact")
    try:
        model = registry.model_run_artifact_load(run=run, require_ranker=True)
    except (ArtifactError, OSError, ValueError) as exc:
        raise TrainingError(
            f"run {run_id} cannot be activated: its artifact does not load ({exc})"
        ) from exc

    def republish_pruned_tables(locked: ModelRun) -> None:
        # Under the run's row lock, which pruning waits for: the tables and the artifact
        # cannot vanish between this check and the switch.
        if not locked.artifact:
            raise TrainingError(
                f"run {run_id} cannot be activated: its artifact was pruned meanwhile"
            )
        if not recall_tables_published(run_id=run_id):
            recall_tables_publish(run=locked, model=model)
            logger.info("run %s: recall tables republished from its artifact", run_id)

    _activate(run_id, force=True, required=Status.SUCCEEDED, before_switch=republish_pruned_tables)
    logger.info("run %s activated by rollback", run_id)
    return ModelRun.objects.get(id=run_id)


def model_run_finish(*, run_id: int) -> ModelRun:
    """Mark a running run succeeded (a failed one stays failed); prune old recall tables
    and artifacts."""
    ModelRun.objects.filter(id=run_id, status=Status.RUNNING).update(
        status=Status.SUCCEEDED, stage=Stage.DONE, finished_at=timezone.now()
    )
    run = ModelRun.objects.get(id=run_id)
    if run.status != Status.SUCCEEDED:
        raise RunNotRunnable(f"run {run_id} is {run.status}; it cannot succeed")
    recall_tables_prune(keep=settings.VIDEOREC_KEEP_RECALL_TABLES)
    model_run_artifacts_prune(keep=settings.VIDEOREC_KEEP_RECALL_TABLES)
    return run


def _activate(
    run_id: int,
    *,
    force: bool,
    required: str,
    before_switch: Callable[[ModelRun], None] | None = None,
) -> bool:
    """Switch the active run; concurrent switches are serialised, so one run is active.

    The partial unique index is the last line of defence.
    """
    with transaction.atomic():
        # Row locks alone do not serialise two activations while no run is active (each
        # would lock only its own row), hence a lock of its own first.
        advisory_lock(key=ACTIVATION_LOCK_KEY)
        runs = (registry.active_runs() | ModelRun.objects.filter(id=run_id)).select_for_update()
        locked = {r.id: r for r in runs.order_by("id")}
        run = locked.get(run_id)
        if run is None:
            raise RunNotRunnable(f"there is no model run {run_id}")
        if run.status != required:
            raise RunNotRunnable(f"run {run_id} is {run.status}; it is not activated")
        current = next((r for r in locked.values() if r.is_active and r.id != run_id), None)
        if current and not force and _worse(run, current):
            logger.warning(
                "run %s not activated: %s %.4f below active run %s (%.4f)",
                run.id,
                GATE_METRIC,
                run.headline(GATE_METRIC) or 0.0,
                current.id,
                current.headline(GATE_METRIC) or 0.0,
            )
            return False
        if before_switch is not None:
            before_switch(run)
        registry.active_run_set(run=run)
    return True


def _worse(run: ModelRun, current: ModelRun) -> bool:
    new, old = run.headline(GATE_METRIC), current.headline(GATE_METRIC)
    if new is None or old is None:
        return False
    return new < old - settings.VIDEOREC_ACTIVATION_MARGIN
