"""Reads over model runs and their recall tables."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from .models import ItemNeighbor, ModelRun


@dataclass(frozen=True)
class SimilarMovie:
    item_id: int
    title: str
    score: float
    source: str


class UnknownSource(ValueError):
    pass


def active_run() -> ModelRun | None:
    return ModelRun.objects.filter(is_active=True).first()


def model_runs() -> QuerySet[ModelRun]:
    """Every run, newest first, without the traceback-sized and table-sized columns."""
    return ModelRun.objects.defer("feature_importances", "params").order_by("-id")


def similar_movies(
    *, run: ModelRun, movie_id: int, topk: int, source: str | None = None
) -> list[SimilarMovie]:
    """The movie's nearest neighbours in ``run``'s recall table, best first.

    ``source`` defaults to the run's similarity source (the one explanations use).
    """
    source = source or run.params.get("pipeline", {}).get("similarity_source", "")
    available = set(
        ItemNeighbor.objects.filter(run=run).values_list("source", flat=True).distinct()
    )
    if source not in available:
        raise UnknownSource(
            f"unknown source {source!r}; this run has: {', '.join(sorted(available)) or 'none'}"
        )
    rows = (
        ItemNeighbor.objects.filter(run=run, source=source, movie_id=movie_id)
        .select_related("neighbor")
        .order_by("rank")[:topk]
    )
    return [SimilarMovie(row.neighbor_id, row.neighbor.title, row.score, source) for row in rows]
