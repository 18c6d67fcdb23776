"""Reads over model runs and their recall tables."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from .models import ItemNeighbor, ModelRun, PopularItem

logger = logging.getLogger(__name__)

WORKER_STATUS_CACHE_KEY = "recommender:celery-workers"
WORKER_STATUS_CACHE_SECONDS = 10


@dataclass(frozen=True)
class SimilarMovie:
    item_id: int
    title: str
    score: float
    source: str


class UnknownSource(ValueError):
    pass


def model_runs() -> QuerySet[ModelRun]:
    """Every run, newest first, without the parameter and feature-importance documents."""
    return ModelRun.objects.defer("feature_importances", "params").order_by("-id")


#: Functions naming runs that other apps still need (the experiments app registers the
#: runs its running and draft experiments serve): retention never prunes them, and they
#: cannot be deleted.
RunsInUse = Callable[[], Collection[int]]
_runs_in_use_sources: list[RunsInUse] = []


def register_runs_in_use(source: RunsInUse) -> None:
    """Keep the runs ``source`` names out of retention and deletion (registered once)."""
    if source not in _runs_in_use_sources:
        _runs_in_use_sources.append(source)


def model_runs_in_use() -> set[int]:
    """The runs other apps registered as still needed (:func:`register_runs_in_use`)."""
    return {run_id for source in _runs_in_use_sources for run_id in source()}


def model_runs_retained(*, keep: int) -> set[int]:
    """Runs whose recall tables and artifact are kept: the newest ``keep`` succeeded runs,
    runs in flight, the active run (``keep`` from ``VIDEOREC_KEEP_RECALL_TABLES``), and
    the runs in use elsewhere (an experiment's variants)."""
    succeeded = ModelRun.objects.filter(status=ModelRun.Status.SUCCEEDED).order_by(
        "-created_at", "-id"
    )
    kept = set(succeeded.values_list("id", flat=True)[:keep])
    kept |= set(ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT).values_list("id", flat=True))
    kept |= set(ModelRun.objects.filter(is_active=True).values_list("id", flat=True))
    return kept | model_runs_in_use()


def similar_movies(
    *, run: ModelRun, movie_id: int, topk: int, source: str | None = None
) -> list[SimilarMovie]:
    """The movie's nearest neighbors in ``run``'s recall table, best first.

    ``source`` defaults to the run's similarity source (the one explanations use). Anyone
    may ask, so every query is an index probe of this one movie (or of one source): the
    cost never grows with the recall tables, which hold ~170,000 rows per run already on
    MovieLens-100k.
    """
    source = source or run.params.get("pipeline", {}).get("similarity_source", "")
    rows = list(
        ItemNeighbor.objects.filter(run=run, source=source, movie_id=movie_id)
        .select_related("neighbor")
        .order_by("rank")[:topk]
    )
    if not rows and not _has_source(run, source):
        available = [name for name in _source_names(run) if _has_source(run, name)]
        raise UnknownSource(
            f"unknown source {source!r}; this run has: {', '.join(sorted(available)) or 'none'}"
        )
    return [SimilarMovie(row.neighbor_id, row.neighbor.title, row.score, source) for row in rows]


def _source_names(run: ModelRun) -> list[str]:
    """The sources the run was configured with (a handful), whether they publish a table."""
    return list(run.params.get("pipeline", {}).get("sources", {}))


def _has_source(run: ModelRun, source: str) -> bool:
    # One probe of the (run, source, movie, rank) unique index. A DISTINCT over the run's
    # rows would read all of them (and the model's default ordering joins the DISTINCT).
    return ItemNeighbor.objects.filter(run=run, source=source).order_by().exists()


def recall_tables_published(*, run_id: int) -> bool:
    """Whether the run's recall tables are in the database (pruning removes them)."""
    return PopularItem.objects.filter(run_id=run_id).exists()


def movie_neighbors(*, run: ModelRun, movie_id: int, topk: int) -> dict[str, list[SimilarMovie]]:
    """The movie's top-``topk`` neighbors in every recall source of ``run`` (one query)."""
    rows = (
        ItemNeighbor.objects.filter(run=run, movie_id=movie_id, rank__lte=topk)
        .select_related("neighbor")
        .order_by("source", "rank")
    )
    by_source: dict[str, list[SimilarMovie]] = {}
    for row in rows:
        by_source.setdefault(row.source, []).append(
            SimilarMovie(row.neighbor_id, row.neighbor.title, row.score, row.source)
        )
    return by_source


def model_runs_in_progress() -> list[ModelRun]:
    """Queued and running runs, oldest first."""
    return list(ModelRun.objects.filter(status__in=ModelRun.IN_FLIGHT).order_by("created_at", "id"))


def model_runs_evaluated(*, limit: int) -> list[ModelRun]:
    """The latest ``limit`` succeeded runs, oldest first (for metric trends)."""
    runs = ModelRun.objects.filter(status=ModelRun.Status.SUCCEEDED).order_by("-created_at", "-id")
    return list(reversed(runs.defer("feature_importances", "error")[:limit]))


def model_runs_by_ids(*, ids: Sequence[int]) -> list[ModelRun]:
    """The runs with these ids, in the order given; unknown ids are left out."""
    runs = ModelRun.objects.in_bulk(list(ids))
    return [runs[run_id] for run_id in ids if run_id in runs]


@dataclass(frozen=True)
class WorkerStatus:
    """Which Celery workers answered a ping, or why none could be asked."""

    #: "eager": no broker, tasks run in the calling process; "ok": the broker answered
    #: (``workers`` may still be empty); "unreachable": the broker did not answer.
    mode: str
    workers: list[str] = field(default_factory=list)
    detail: str = ""


def tasks_run_in_process() -> bool:
    """True when Celery executes tasks eagerly in the caller (no broker configured)."""
    from celery import current_app as celery_app

    return bool(celery_app.conf.task_always_eager)


def celery_workers(*, timeout: float = 0.5) -> WorkerStatus:
    """Ping the Celery workers through the broker, waiting at most about ``timeout`` s.

    A broker that is down is reported, not raised: the dashboard must still render.
    """
    from celery import current_app as celery_app

    if tasks_run_in_process():
        return WorkerStatus(mode="eager", detail="no broker: tasks run in-process")
    # A ping waits out its whole timeout, and the dashboard reloads every few seconds
    # while a retrain runs: one answer serves every page for a few seconds.
    cached = cache.get(WORKER_STATUS_CACHE_KEY)
    if cached is not None:
        return cached
    status = _ping_workers(celery_app, timeout)
    cache.set(WORKER_STATUS_CACHE_KEY, status, WORKER_STATUS_CACHE_SECONDS)
    return status


def _ping_workers(celery_app: Any, timeout: float) -> WorkerStatus:
    try:
        with celery_app.connection_for_read() as connection:
            # Without this, kombu retries an unreachable broker for a long time.
            connection.ensure_connection(max_retries=0, timeout=timeout)
            replies = celery_app.control.inspect(timeout=timeout, connection=connection).ping()
    except Exception as exc:  # kombu raises transport-specific errors
        logger.warning("Celery broker unreachable: %s", exc)
        return WorkerStatus(mode="unreachable", detail=f"{type(exc).__name__}: {exc}")
    return WorkerStatus(mode="ok", workers=sorted(replies or {}))
