"""Training a model run: its parameters, then recall tables → ranker → evaluation.

Every caller (``manage.py train``, the Celery tasks, the admin action, the API) goes
through these functions. Each stage reads the run's pinned data snapshot, does its work
with the engine, and records its seconds (see :func:`.runs.model_run_stage`); a stage
that raises marks the run failed with the traceback and leaves the active run untouched.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File

from ingestion import selectors as data_selectors
from recommender.engine import training as engine_training
from recommender.engine.artifacts import save_model
from recommender.engine.config import PipelineConfig
from recommender.engine.data import InteractionData
from recommender.engine.evaluation import evaluate_holdout
from recommender.engine.model import RecommenderModel

from .. import registry
from ..models import ModelRun
from .activation import model_run_activate, model_run_finish
from .recall_tables import recall_tables_publish
from .runs import TrainingError, model_run_stage

Stage = ModelRun.Stage
StageCallback = Callable[[ModelRun], None]


def default_params() -> dict[str, Any]:
    """Parameters of a new run: the pipeline configuration and the evaluation protocol.

    The ranker's objective (``VIDEOREC_RANKER_LABELS``, ``VIDEOREC_RELEVANCE``) is kept
    as ``pipeline.label_split`` and ``pipeline.relevance``.
    """
    pipeline = PipelineConfig(
        label_split=settings.VIDEOREC_RANKER_LABELS,
        relevance=settings.VIDEOREC_RELEVANCE,
        ranker_row_budget=settings.VIDEOREC_RANKER_ROW_BUDGET,
        refit_when_sampled=settings.VIDEOREC_RANKER_REFIT_WHEN_SAMPLED,
    )
    sources = {
        name: {**spec, "max_items": settings.VIDEOREC_EASE_MAX_ITEMS}
        if spec["kind"] == "ease"
        else spec
        for name, spec in pipeline.sources.items()
    }
    pipeline = replace(
        pipeline,
        sources=sources,
        ranker=replace(pipeline.ranker, num_threads=settings.VIDEOREC_TRAINING_THREADS),
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
        triggered_by=triggered_by[: ModelRun._meta.get_field("triggered_by").max_length],
        params=merged,
        data_snapshot=data_selectors.rating_snapshot(),
    )


# --------------------------------------------------------------------------- the stages
def recall_tables_build(*, run_id: int) -> None:
    """Fit the recall sources on all ratings of the snapshot and publish their tables."""
    with model_run_stage(run_id=run_id, stage=Stage.RECALL) as run:
        if not run.data_snapshot.get("ratings"):
            raise TrainingError("there are no ratings to train on; run loadml100k first")
        data = _training_data(run)
        model = engine_training.fit_sources(_config(run), data)
        _save_artifact(run, model, f"run-{run.id}-sources.npz")
        _record_scale(run, recall=model.fit_report["recall_choices"])
        recall_tables_publish(run=run, model=model)


def ranker_train(*, run_id: int) -> None:
    """Train the LightGBM ranker on folds of the snapshot; completes the artifact."""
    with model_run_stage(run_id=run_id, stage=Stage.RANKER) as run:
        model = engine_training.fit_ranker(
            registry.model_run_artifact_load(run=run), _training_data(run)
        )
        _save_artifact(run, model, f"run-{run.id}.npz")
        run.feature_importances = {
            name: round(float(value), 4)
            for name, value in model.fit_report.get("feature_importance", {}).items()
        }
        run.save(update_fields=["feature_importances"])
        _record_scale(
            run,
            ranker_viewers=[
                value for key, value in model.fit_report.items() if key.endswith("_viewers")
            ],
            ranker_rows=model.fit_report["ranker_rows"],
            ranker_refit=model.fit_report["ranker_refit"],
        )


def model_run_evaluate(*, run_id: int) -> None:
    """Offline metrics of the system and the baselines on the run's internal hold-out."""
    with model_run_stage(run_id=run_id, stage=Stage.EVALUATION) as run:
        evaluation = run.params["evaluation"]
        report = evaluate_holdout(
            _training_data(run),
            _config(run),
            protocol=evaluation["protocol"],
            test_share=evaluation["test_share"],
            k=evaluation["k"],
            seed=evaluation["seed"],
            max_users=evaluation.get("users"),
        )
        run.metrics = _rounded(report.as_dict())
        run.save(update_fields=["metrics"])
        _record_scale(
            run,
            evaluation_viewers={
                "scored": report.protocol["users"],
                "evaluable": report.protocol["evaluable_users"],
            },
        )


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


# ------------------------------------------------------------------------------ helpers
def _config(run: ModelRun) -> PipelineConfig:
    return PipelineConfig.from_dict(run.params["pipeline"])


def _record_scale(run: ModelRun, **facts: Any) -> None:
    """Note on the run how training adapted to the data's size (``params["scale"]``).

    Read by the run page: which recall sources scaled down (EASE on a subset), how
    many viewers each ranker fold and the evaluation used.
    """
    run.params = {**run.params, "scale": {**run.params.get("scale", {}), **facts}}
    run.save(update_fields=["params"])


def _training_data(run: ModelRun) -> InteractionData:
    return InteractionData(
        ratings=data_selectors.ratings_frame(max_rating_id=run.data_snapshot["max_rating_id"]),
        items=data_selectors.movies_frame(),
        users=data_selectors.viewers_frame(),
    )


def _save_artifact(run: ModelRun, model: RecommenderModel, name: str) -> None:
    """Write the model through Django's storage (local disk or object storage).

    The previous artifact of the run (the sources-only one) is removed once the new one
    is stored.
    """
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        save_model(model, path)
        old_name = run.artifact.name
        with path.open("rb") as handle:
            # Recorded on the run, which every load checks (a replaced file is refused).
            run.artifact_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            handle.seek(0)
            run.artifact.save(name, File(handle), save=False)
        ModelRun.objects.filter(id=run.id).update(
            artifact=run.artifact.name, artifact_sha256=run.artifact_sha256
        )
        if old_name and old_name != run.artifact.name:
            run.artifact.storage.delete(old_name)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value
