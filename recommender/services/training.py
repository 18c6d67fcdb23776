"""Training pipeline of a model run: recall tables → ranker → evaluation → activation.

Every caller (``manage.py train``, the Celery tasks, the admin action, the API) goes
through these functions. Each stage reads the run's pinned data snapshot, does its work
with the engine, and records its seconds; a stage that raises marks the run failed with
the traceback and leaves the active run untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from ingestion import selectors as data_selectors
from ingestion.bulk import upsert_frame
from recommender.engine import training as engine_training
from recommender.engine.artifacts import ArtifactError, load_model, save_model
from recommender.engine.config import PipelineConfig
from recommender.engine.data import InteractionData
from recommender.engine.evaluation import evaluate_holdout
from recommender.engine.model import RecommenderModel
from recommender.engine.recall_tables import item_source_names, neighbor_table, popularity_table

from ..models import ItemNeighbor, ModelRun, PopularItem
from .serving import active_run_changed

logger = logging.getLogger(__name__)

Stage = ModelRun.Stage
Status = ModelRun.Status
StageCallback = Callable[[ModelRun], None]

#: Metric that decides whether a new run may replace the active one.
GATE_METRIC = "ndcg@10"
#: Keys of the PostgreSQL advisory locks that serialise retrain requests and activations.
RETRAIN_LOCK_KEY = 0x56524543  # "VREC"
ACTIVATION_LOCK_KEY = RETRAIN_LOCK_KEY + 1
#: This machine, as recorded on the runs whose stages it executes.
HOST = socket.gethostname()


class TrainingError(Exception):
    """A model run failed; the message says which stage and why."""


class RetrainNotEnqueued(TrainingError):
    """The broker did not take the retrain; its run is marked failed."""


class RunNotRunnable(TrainingError):
    """A stage was delivered for a run that is finished, failed, or busy in another process.

    Raised before the stage touches anything: the run keeps its state. This is what a
    message redelivered by the broker (``acks_late``) meets after its run was reaped.
    """


@dataclass(frozen=True)
class RetrainRequest:
    run: ModelRun
    #: False when a retrain was already queued or running: ``run`` is that one.
    created: bool


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
        triggered_by=triggered_by[: ModelRun._meta.get_field("triggered_by").max_length],
        params=merged,
        data_snapshot=data_selectors.rating_snapshot(),
    )


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
    first, so they never block a new retrain.
    """
    from ..tasks import retrain  # the tasks module imports this one

    model_run_reap_stale()
    with transaction.atomic():
        _advisory_lock(RETRAIN_LOCK_KEY)
        in_flight = ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT).order_by("id").first()
        if in_flight is not None:
            return RetrainRequest(run=in_flight, created=False)
        run = model_run_create(triggered_by=triggered_by, params=params)
    try:
        result = retrain.delay(run.id, activate=activate, force=force)
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
    last = ModelRun.objects.filter(status=Status.SUCCEEDED).order_by("-id").first()
    if last is not None and not data_selectors.ratings_changed_since(last.data_snapshot):
        outcome = f"skipped: no rating changed since run {last.id}"
    else:
        request = retrain_request(triggered_by="schedule")
        verb = "enqueued" if request.created else "skipped: already in flight,"
        outcome = f"{verb} run {request.run.id}"
    logger.info("scheduled retrain %s", outcome)
    return outcome


def model_run_reap_stale() -> list[int]:
    """Mark failed every in-flight run whose worker is gone; returns their ids.

    A run is stale when the process executing its stage has died (checked directly when
    it ran on this machine), when that stage stopped sending heartbeats, or when no
    worker has started its next stage within ``VIDEOREC_TRAINING_TIME_LIMIT``. A stage
    delivered again later for a reaped run refuses to run (see :class:`RunNotRunnable`).
    Called when a worker starts, periodically by beat, and before every retrain request.
    """
    now = timezone.now()
    reaped = []
    for run in ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT):
        reason = _stale_reason(run, now)
        if reason is None:
            continue
        # Only if nothing moved since we looked: a stage that just started is not stale.
        unchanged = ModelRun.objects.filter(
            id=run.id,
            status__in=ModelRun.IN_FLIGHT,
            worker_pid=run.worker_pid,
            heartbeat_at=run.heartbeat_at,
        )
        if run.is_active:
            # Died after activating, before finishing: the run serves, so it succeeded.
            unchanged.update(status=Status.SUCCEEDED, stage=Stage.DONE, finished_at=now)
            continue
        if unchanged.update(status=Status.FAILED, error=reason, finished_at=now):
            logger.warning("run %s marked failed: %s", run.id, reason)
            reaped.append(run.id)
    return reaped


# --------------------------------------------------------------------------- the stages
def recall_tables_build(*, run_id: int) -> None:
    """Fit the recall sources on all ratings of the snapshot and publish their tables."""
    with _stage(run_id, Stage.RECALL) as run:
        if not run.data_snapshot.get("ratings"):
            raise TrainingError("there are no ratings to train on; run loadml100k first")
        data = _training_data(run)
        model = engine_training.fit_sources(_config(run), data)
        _save_artifact(run, model, f"run-{run.id}-sources.npz")
        _publish_tables(run, model)


def ranker_train(*, run_id: int) -> None:
    """Train the LightGBM ranker on folds of the snapshot; completes the artifact."""
    with _stage(run_id, Stage.RANKER) as run:
        model = engine_training.fit_ranker(_load_artifact(run), _training_data(run))
        _save_artifact(run, model, f"run-{run.id}.npz")
        run.feature_importances = {
            name: round(float(value), 4)
            for name, value in model.fit_report.get("feature_importance", {}).items()
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
    """The activation stage of a retrain: serve the run unless it is worse than the active one.

    "Worse" means its NDCG@10 is below the active run's by more than
    ``VIDEOREC_ACTIVATION_MARGIN``; ``force`` skips that check. Only a run in flight is
    activated this way, so a stage delivered again after its run finished or failed can
    never activate it; going back to an earlier run is :func:`model_run_rollback`.
    """
    with _stage(run_id, Stage.ACTIVATION):
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
        reason = {
            Status.FAILED: "it failed",
            Status.QUEUED: "it has not started training yet",
            Status.RUNNING: "it is still training",
        }[run.status]
        raise TrainingError(
            f"run {run_id} cannot be activated: {reason}; only succeeded runs can serve"
        )
    if run.is_active:
        return run
    if not run.artifact:
        raise TrainingError(f"run {run_id} cannot be activated: it has no model artifact")
    try:
        model = _load_artifact(run, require_ranker=True)
    except (ArtifactError, OSError, ValueError) as exc:
        raise TrainingError(
            f"run {run_id} cannot be activated: its artifact does not load ({exc})"
        ) from exc

    def republish_pruned_tables(locked: ModelRun) -> None:
        # Under the run's row lock, which pruning waits for: the tables cannot vanish
        # between this check and the switch.
        if not PopularItem.objects.filter(run_id=run_id).exists():
            _publish_tables(locked, model)
            logger.info("run %s: recall tables republished from its artifact", run_id)

    _activate(run_id, force=True, required=Status.SUCCEEDED, before_switch=republish_pruned_tables)
    logger.info("run %s activated by rollback", run_id)
    return ModelRun.objects.get(id=run_id)


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
        _advisory_lock(ACTIVATION_LOCK_KEY)
        runs = ModelRun.objects.select_for_update().filter(Q(is_active=True) | Q(id=run_id))
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
        ModelRun.objects.filter(is_active=True).exclude(id=run.id).update(is_active=False)
        run.is_active = True
        run.activated_at = timezone.now()
        run.save(update_fields=["is_active", "activated_at"])
    transaction.on_commit(lambda: active_run_changed(run_id))
    return True


def model_run_finish(*, run_id: int) -> ModelRun:
    """Mark a running run succeeded (a failed one stays failed)."""
    ModelRun.objects.filter(id=run_id, status=Status.RUNNING).update(
        status=Status.SUCCEEDED, stage=Stage.DONE, finished_at=timezone.now()
    )
    run = ModelRun.objects.get(id=run_id)
    if run.status != Status.SUCCEEDED:
        raise RunNotRunnable(f"run {run_id} is {run.status}; it cannot succeed")
    recall_tables_prune(keep=settings.VIDEOREC_KEEP_RECALL_TABLES)
    return run


def recall_tables_prune(*, keep: int) -> list[int]:
    """Delete the recall tables of old runs; returns the ids of the runs pruned.

    Each run publishes a neighbor list per movie and source (about 170,000 rows on
    MovieLens-100k), so they are kept only for the active run, the newest ``keep``
    succeeded runs, and runs still training. The artifacts stay: a rollback republishes
    the tables from them.
    """
    succeeded = ModelRun.objects.filter(status=ModelRun.Status.SUCCEEDED).order_by(
        "-created_at", "-id"
    )
    kept = set(succeeded.values_list("id", flat=True)[:keep])
    kept |= set(ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT).values_list("id", flat=True))
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
    """Record a failure that happened outside a stage (e.g. a lost worker).

    Only an in-flight run changes: a finished run keeps its state and its first error.
    """
    ModelRun.objects.filter(id=run_id, status__in=ModelRun.IN_FLIGHT).update(
        status=Status.FAILED, error=error, finished_at=timezone.now()
    )


# ------------------------------------------------------------------------------ helpers
@contextmanager
def _stage(run_id: int, stage: str) -> Iterator[ModelRun]:
    """Execute one stage of an in-flight run in this process, recorded on the run.

    Claiming the stage is one conditional UPDATE: it succeeds only for a queued or
    running run that no other process is executing, so a stage delivered twice, or
    delivered for a failed or finished run, never flips that run back to running.
    """
    now, pid = timezone.now(), os.getpid()
    claimed = ModelRun.objects.filter(
        id=run_id, status__in=ModelRun.IN_FLIGHT, worker_pid__isnull=True
    ).update(
        status=Status.RUNNING,
        stage=stage,
        started_at=Coalesce("started_at", now),
        worker_host=HOST,
        worker_pid=pid,
        heartbeat_at=now,
    )
    if not claimed:
        raise RunNotRunnable(_refusal(run_id, stage))
    run = ModelRun.objects.get(id=run_id)
    logger.info("run %s: %s", run_id, run.get_stage_display())
    started = time.perf_counter()
    try:
        with _heartbeat(run_id, pid):
            yield run
    except Exception as exc:
        ModelRun.objects.filter(id=run_id).update(
            status=Status.FAILED,
            error=traceback.format_exc(),
            finished_at=timezone.now(),
        )
        logger.exception("run %s failed while %s", run_id, stage)
        raise TrainingError(f"run {run_id} failed while {stage}: {exc}") from exc
    seconds = round(time.perf_counter() - started, 3)
    ModelRun.objects.filter(id=run_id).update(
        stage_seconds={**ModelRun.objects.get(id=run_id).stage_seconds, stage: seconds},
        worker_host="",
        worker_pid=None,
        heartbeat_at=timezone.now(),
    )


def _refusal(run_id: int, stage: str) -> str:
    run = ModelRun.objects.filter(id=run_id).first()
    if run is None:
        return f"there is no model run {run_id}"
    if run.status in ModelRun.IN_FLIGHT:
        return (
            f"run {run_id} is already executing its {run.stage} stage in process "
            f"{run.worker_pid} on {run.worker_host}; {stage} is not started twice"
        )
    return f"run {run_id} has already {run.status}; its {stage} stage is not run again"


@contextmanager
def _heartbeat(run_id: int, pid: int) -> Iterator[None]:
    """Refresh the run's ``heartbeat_at`` from a background thread while a stage runs.

    Training releases the GIL in numpy and LightGBM, so the thread keeps beating during
    long fits; a worker that dies stops beating, which is what the reaper notices for
    workers on other machines.
    """
    interval = settings.VIDEOREC_TRAINING_HEARTBEAT
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    ModelRun.objects.filter(id=run_id, worker_pid=pid).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:
                    logger.warning("run %s: heartbeat not recorded", run_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name=f"run-{run_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _stale_reason(run: ModelRun, now: dt.datetime) -> str | None:
    """Why an in-flight run cannot finish any more, or None while it still may."""
    if run.worker_pid is not None:
        where = f"process {run.worker_pid} on {run.worker_host}"
        if run.worker_host == HOST and not _process_alive(run.worker_pid):
            return f"the worker ({where}) died while in the {run.stage} stage"
        silent = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else 0.0
        if silent > _heartbeat_timeout():
            return (
                f"no heartbeat from the worker ({where}) for {silent:.0f} s "
                f"in the {run.stage} stage"
            )
        return None
    waiting = (now - (run.heartbeat_at or run.created_at)).total_seconds()
    if waiting > settings.VIDEOREC_TRAINING_TIME_LIMIT:
        step = "picked it up" if run.status == Status.QUEUED else f"went on after {run.stage}"
        return (
            f"no worker {step} within {waiting:.0f} s "
            f"(is a worker consuming queue {settings.CELERY_TASK_DEFAULT_QUEUE}?)"
        )
    return None


def _heartbeat_timeout() -> float:
    """Silence after which a stage's worker counts as dead.

    Several missed beats; without heartbeats, the task time limit (after which the worker
    pool has killed the stage anyway) plus a minute.
    """
    interval = settings.VIDEOREC_TRAINING_HEARTBEAT
    if interval > 0:
        return 4.0 * interval
    return settings.VIDEOREC_TRAINING_TIME_LIMIT + 60.0


def _process_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _advisory_lock(key: int) -> None:
    """Serialise a check-then-write transaction across processes, until it ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite needs none: this project opens
    every SQLite transaction with ``BEGIN IMMEDIATE``, which takes the database's write
    lock before the check.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _config(run: ModelRun) -> PipelineConfig:
    return PipelineConfig.from_dict(run.params["pipeline"])


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
            run.artifact.save(name, File(handle), save=False)
        ModelRun.objects.filter(id=run.id).update(artifact=run.artifact.name)
        if old_name and old_name != run.artifact.name:
            run.artifact.storage.delete(old_name)


def _load_artifact(run: ModelRun, *, require_ranker: bool = False) -> RecommenderModel:
    with run.artifact.open("rb") as handle:
        return load_model(handle, require_ranker=require_ranker)


def _publish_tables(run: ModelRun, model: RecommenderModel) -> None:
    per_item = run.params["neighbors_per_item"]
    neighbors = pd.concat(
        [neighbor_table(model, name, per_item) for name in item_source_names(model)],
        ignore_index=True,
    )
    neighbors = neighbors.rename(columns={"item_id": "movie_id"})
    popular = popularity_table(model, run.params["popular_items"])
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
