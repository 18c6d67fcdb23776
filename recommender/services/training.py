"""Training pipeline of a model run: recall tables → ranker → evaluation → activation.

Every caller (``manage.py train``, the Celery tasks, the admin action, the API) goes
through these functions. Each stage reads the run's pinned data snapshot, does its work
with the engine, and records its seconds; a stage that raises marks the run failed with
the traceback and leaves the active run untouched.
"""

from __future__ import annotations

import logging
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ingestion import selectors as data_selectors
from ingestion.bulk import upsert_frame
from recommender.engine.artifacts import load_pipeline, save_pipeline
from recommender.engine.data import InteractionData
from recommender.engine.evaluation import evaluate_holdout
from recommender.engine.pipeline import PipelineConfig, RecommenderPipeline

from ..models import ItemNeighbor, ModelRun, PopularItem
from .serving import active_run_changed

logger = logging.getLogger(__name__)

Stage = ModelRun.Stage
StageCallback = Callable[[ModelRun], None]

#: Metric that decides whether a new run may replace the active one.
GATE_METRIC = "ndcg@10"


class TrainingError(Exception):
    """A model run failed; the message says which stage and why."""


def default_params() -> dict[str, Any]:
    """Parameters of a new run: the pipeline configuration and the evaluation protocol."""
    pipeline = PipelineConfig()
    pipeline = replace(
        pipeline, ranker=replace(pipeline.ranker, num_threads=settings.VIDEOREC_TRAINING_THREADS)
    )
    return {
        "pipeline": pipeline.to_dict(),
        "evaluation": dict(settings.VIDEOREC_EVALUATION),
        "neighbors_per_item": settings.VIDEOREC_NEIGHBORS_PER_ITEM,
        "popular_items": settings.VIDEOREC_POPULAR_ITEMS,
    }


def model_run_create(*, triggered_by: str, params: dict[str, Any] | None = None) -> ModelRun:
    """A queued run over the ratings as they are now (the snapshot pins them).

    ``params`` overrides the defaults key by key; ``pipeline`` and ``evaluation`` are
    merged one level deeper. An invalid configuration raises ``ValueError`` and creates
    nothing.
    """
    merged = default_params()
    for key, value in (params or {}).items():
        if key not in merged:
            raise ValueError(f"unknown training parameter {key!r}; known: {sorted(merged)}")
        merged[key] = {**merged[key], **value} if isinstance(merged[key], dict) else value
    try:
        PipelineConfig.from_dict(merged["pipeline"])
    except (TypeError, KeyError) as exc:
        raise ValueError(f"invalid pipeline configuration: {exc}") from exc
    return ModelRun.objects.create(
        triggered_by=triggered_by,
        params=merged,
        data_snapshot=data_selectors.rating_snapshot(),
    )


def retrain_enqueue(*, triggered_by: str, activate: bool = True, force: bool = False) -> ModelRun:
    """Create a run and hand its stages to Celery (in-process when no broker is set).

    The one entry point of ``train --async``, the admin's "Retrain now" and the API.
    """
    from ..tasks import retrain  # the tasks module imports this one

    run = model_run_create(triggered_by=triggered_by)
    result = retrain.delay(run.id, activate=activate, force=force)
    ModelRun.objects.filter(id=run.id, task_id="").update(task_id=result.id)
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------- the stages
def recall_tables_build(*, run_id: int) -> None:
    """Fit the recall sources on all ratings of the snapshot and publish their tables."""
    with _stage(run_id, Stage.RECALL) as run:
        if not run.data_snapshot.get("ratings"):
            raise TrainingError("there are no ratings to train on; run loadml100k first")
        data = _training_data(run)
        pipeline = RecommenderPipeline(_config(run)).fit_sources(data)
        _save_artifact(run, pipeline, f"run-{run.id}-sources.npz")
        _publish_tables(run, pipeline)


def ranker_train(*, run_id: int) -> None:
    """Train the LightGBM ranker on folds of the snapshot; completes the artifact."""
    with _stage(run_id, Stage.RANKER) as run:
        pipeline = _load_artifact(run).fit_ranker(_training_data(run))
        _save_artifact(run, pipeline, f"run-{run.id}.npz")
        run.feature_importances = {
            name: round(float(value), 4)
            for name, value in pipeline.fit_report_.get("feature_importance", {}).items()
        }
        run.save(update_fields=["feature_importances"])


def model_run_evaluate(*, run_id: int) -> None:
    """Offline metrics of the system and the baselines on the run's internal hold-out."""
    with _stage(run_id, Stage.EVALUATION) as run:
        evaluation = run.params["evaluation"]
        report = evaluate_holdout(
            _training_data(run),
            _config(run),
            protocol=evaluation["protocol"],
            test_share=evaluation["test_share"],
            k=evaluation["k"],
            seed=evaluation["seed"],
        )
        run.metrics = _rounded(report.as_dict())
        run.save(update_fields=["metrics"])


def model_run_activate(*, run_id: int, force: bool = False) -> bool:
    """Make the run the one that serves, unless it is worse than the active run.

    "Worse" means its NDCG@10 is below the active run's by more than
    ``VIDEOREC_ACTIVATION_MARGIN``; ``force`` skips that check. Concurrent activations
    are serialised by a row lock on every run, so there is never more than one active.
    """
    with _stage(run_id, Stage.ACTIVATION) as run:
        with transaction.atomic():
            runs = ModelRun.objects.select_for_update().filter(Q(is_active=True) | Q(id=run_id))
            locked = {r.id: r for r in runs.order_by("id")}
            run = locked[run_id]
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
            ModelRun.objects.filter(is_active=True).exclude(id=run.id).update(is_active=False)
            run.is_active = True
            run.activated_at = timezone.now()
            run.save(update_fields=["is_active", "activated_at"])
        transaction.on_commit(lambda: active_run_changed(run.id))
        return True


def model_run_rollback(*, run_id: int) -> ModelRun:
    """Make an earlier succeeded run the one that serves, whatever its metrics.

    The operator's rollback: unlike :func:`model_run_activate` it is not a stage of a
    retrain, so it leaves the run's status and stage alone, and it has no quality gate.
    Runs that did not succeed are refused with a :class:`TrainingError` saying why. A run
    whose recall tables were pruned gets them back from its artifact first.
    """
    with transaction.atomic():
        runs = ModelRun.objects.select_for_update().filter(Q(is_active=True) | Q(id=run_id))
        locked = {r.id: r for r in runs.order_by("id")}
        run = locked.get(run_id)
        if run is None:
            raise TrainingError(f"there is no model run {run_id}")
        if run.status != ModelRun.Status.SUCCEEDED:
            reason = {
                ModelRun.Status.FAILED: "it failed",
                ModelRun.Status.QUEUED: "it has not started training yet",
                ModelRun.Status.RUNNING: "it is still training",
            }[run.status]
            raise TrainingError(
                f"run {run_id} cannot be activated: {reason}; only succeeded runs can serve"
            )
        if run.is_active:
            return run
        if not run.artifact:
            raise TrainingError(f"run {run_id} cannot be activated: it has no model artifact")
        if not PopularItem.objects.filter(run_id=run_id).exists():
            _publish_tables(run, _load_artifact(run))
            logger.info("run %s: recall tables republished from its artifact", run_id)
        ModelRun.objects.filter(is_active=True).update(is_active=False)
        run.is_active = True
        run.activated_at = timezone.now()
        run.save(update_fields=["is_active", "activated_at"])
    transaction.on_commit(lambda: active_run_changed(run.id))
    logger.info("run %s activated by rollback", run_id)
    return run


def model_run_finish(*, run_id: int) -> ModelRun:
    run = ModelRun.objects.get(id=run_id)
    run.status, run.stage, run.finished_at = ModelRun.Status.SUCCEEDED, Stage.DONE, timezone.now()
    run.save(update_fields=["status", "stage", "finished_at"])
    recall_tables_prune(keep=settings.VIDEOREC_KEEP_RECALL_TABLES)
    return run


def recall_tables_prune(*, keep: int) -> list[int]:
    """Delete the recall tables of old runs; returns the ids of the runs pruned.

    Each run publishes a neighbour list per movie and source (about 170,000 rows on
    MovieLens-100k), so they are kept only for the active run, the newest ``keep``
    succeeded runs, and runs still training. The artifacts stay: a rollback republishes
    the tables from them.
    """
    succeeded = ModelRun.objects.filter(status=ModelRun.Status.SUCCEEDED).order_by(
        "-created_at", "-id"
    )
    kept = set(succeeded.values_list("id", flat=True)[:keep])
    in_progress = [ModelRun.Status.QUEUED, ModelRun.Status.RUNNING]
    kept |= set(ModelRun.objects.filter(status__in=in_progress).values_list("id", flat=True))
    # One index probe per run, rather than reading the tables' run ids.
    published = Exists(ItemNeighbor.objects.filter(run_id=OuterRef("pk"))) | Exists(
        PopularItem.objects.filter(run_id=OuterRef("pk"))
    )
    candidates = set(
        ModelRun.objects.filter(published).exclude(id__in=kept).values_list("id", flat=True)
    )
    if not candidates:
        return []
    with transaction.atomic():
        # The row locks wait for a rollback that may be re-activating one of these runs
        # (it holds its run's lock while republishing), so its fresh tables survive.
        locked = ModelRun.objects.select_for_update().filter(id__in=candidates).order_by("id")
        pruned = [run.id for run in locked if not run.is_active]
        ItemNeighbor.objects.filter(run_id__in=pruned).delete()
        PopularItem.objects.filter(run_id__in=pruned).delete()
    if pruned:
        logger.info("recall tables of runs %s pruned", ", ".join(map(str, pruned)))
    return pruned


def model_run_execute(
    *,
    run_id: int,
    activate: bool = True,
    force: bool = False,
    on_stage: StageCallback | None = None,
) -> ModelRun:
    """The whole retrain in this process: what the Celery chain does, one call."""
    steps: list[Callable[[], Any]] = [
        lambda: recall_tables_build(run_id=run_id),
        lambda: ranker_train(run_id=run_id),
        lambda: model_run_evaluate(run_id=run_id),
    ]
    if activate:
        steps.append(lambda: model_run_activate(run_id=run_id, force=force))
    for step in steps:
        step()
        if on_stage:
            on_stage(ModelRun.objects.get(id=run_id))
    return model_run_finish(run_id=run_id)


def model_run_fail(*, run_id: int, error: str) -> None:
    """Record a failure that happened outside a stage (e.g. a lost worker)."""
    ModelRun.objects.filter(id=run_id).exclude(status=ModelRun.Status.SUCCEEDED).update(
        status=ModelRun.Status.FAILED, error=error, finished_at=timezone.now()
    )


# ------------------------------------------------------------------------------ helpers
@contextmanager
def _stage(run_id: int, stage: str) -> Iterator[ModelRun]:
    run = ModelRun.objects.filter(id=run_id).first()
    if run is None:
        raise TrainingError(f"there is no model run {run_id}")
    if run.status == ModelRun.Status.FAILED:
        raise TrainingError(f"run {run_id} has already failed")
    run.status, run.stage = ModelRun.Status.RUNNING, stage
    run.started_at = run.started_at or timezone.now()
    run.save(update_fields=["status", "stage", "started_at"])
    logger.info("run %s: %s", run_id, run.get_stage_display())
    started = time.perf_counter()
    try:
        yield run
    except Exception as exc:
        ModelRun.objects.filter(id=run_id).update(
            status=ModelRun.Status.FAILED,
            error=traceback.format_exc(),
            finished_at=timezone.now(),
        )
        logger.exception("run %s failed while %s", run_id, stage)
        raise TrainingError(f"run {run_id} failed while {stage}: {exc}") from exc
    seconds = round(time.perf_counter() - started, 3)
    ModelRun.objects.filter(id=run_id).update(
        stage_seconds={**ModelRun.objects.get(id=run_id).stage_seconds, stage: seconds}
    )


def _config(run: ModelRun) -> PipelineConfig:
    return PipelineConfig.from_dict(run.params["pipeline"])


def _training_data(run: ModelRun) -> InteractionData:
    return InteractionData(
        ratings=data_selectors.ratings_frame(max_rating_id=run.data_snapshot["max_rating_id"]),
        items=data_selectors.movies_frame(),
        users=data_selectors.viewers_frame(),
    )


def _save_artifact(run: ModelRun, pipeline: RecommenderPipeline, name: str) -> None:
    """Write the pipeline through Django's storage (local disk or object storage).

    The previous artifact of the run (the sources-only one) is removed once the new one
    is stored.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        save_pipeline(pipeline, path)
        old_name = run.artifact.name
        with path.open("rb") as handle:
            run.artifact.save(name, File(handle), save=False)
        ModelRun.objects.filter(id=run.id).update(artifact=run.artifact.name)
        if old_name and old_name != run.artifact.name:
            run.artifact.storage.delete(old_name)


def _load_artifact(run: ModelRun) -> RecommenderPipeline:
    with run.artifact.open("rb") as handle:
        return load_pipeline(handle, require_ranker=False)


def _publish_tables(run: ModelRun, pipeline: RecommenderPipeline) -> None:
    per_item = run.params["neighbors_per_item"]
    neighbors = pd.concat(
        [pipeline.neighbour_table(name, per_item) for name in pipeline.item_sources()],
        ignore_index=True,
    )
    neighbors = neighbors.rename(columns={"item_id": "movie_id", "neighbour_id": "neighbor_id"})
    popular = pipeline.popularity_table(run.params["popular_items"])
    popular = popular.rename(columns={"item_id": "movie_id"})[["movie_id", "score", "rank"]]
    neighbors.insert(0, "run_id", run.id)
    popular.insert(0, "run_id", run.id)
    with transaction.atomic():
        ItemNeighbor.objects.filter(run_id=run.id).delete()
        PopularItem.objects.filter(run_id=run.id).delete()
        upsert_frame(
            ItemNeighbor._meta.db_table, neighbors, key=["run_id", "source", "movie_id", "rank"]
        )
        upsert_frame(PopularItem._meta.db_table, popular, key=["run_id", "rank"])


def _worse(run: ModelRun, current: ModelRun) -> bool:
    new, old = run.headline(GATE_METRIC), current.headline(GATE_METRIC)
    if new is None or old is None:
        return False
    return new < old - settings.VIDEOREC_ACTIVATION_MARGIN


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value
