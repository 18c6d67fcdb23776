"""The recall tables a run publishes (neighbor lists, popularity list), and their pruning.

Serving reads a run's candidates from its artifact; these tables are the same lists in
the database, for the admin's inspector and the similar-movies endpoint.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Exists, Model, OuterRef

from common.bulk import insert_frame
from ingestion.models import Movie
from recommender.engine.model import RecommenderModel
from recommender.engine.recall_tables import item_source_names, neighbor_table, popularity_table

from ..models import ItemNeighbor, ModelRun, PopularItem
from ..selectors import model_runs_retained

logger = logging.getLogger(__name__)


def recall_tables_publish(*, run: ModelRun, model: RecommenderModel) -> None:
    """Replace ``run``'s tables with the top lists of ``model``'s item sources."""
    per_item = run.params["neighbors_per_item"]
    neighbors = pd.concat(
        [neighbor_table(model, name, per_item) for name in item_source_names(model)],
        ignore_index=True,
    )
    neighbors = neighbors.rename(columns={"item_id": "movie_id"})
    popular = popularity_table(model, run.params["popular_items"])
    popular = popular.rename(columns={"item_id": "movie_id"})[["movie_id", "score", "rank"]]
    recall_tables_write(run=run, neighbors=neighbors, popular=popular)


class RecallTablesRefused(ValueError):
    """The rows name a run or movies that do not exist (any more): nothing was written."""


def recall_tables_write(*, run: ModelRun, neighbors: pd.DataFrame, popular: pd.DataFrame) -> None:
    """Replace ``run``'s tables with these rows (``movie_id``, ``source``, ``rank``,
    ``neighbor_id``, ``score``; ``movie_id``, ``score``, ``rank``), in one transaction.

    Refused (:class:`RecallTablesRefused`, the run's tables as they were) when the run or
    one of the movies named does not exist. The run's old rows are deleted first, so the
    new ones cannot conflict: they are appended with ``COPY``, no staging table.
    """
    with transaction.atomic():
        _lock_referenced(run=run, neighbors=neighbors, popular=popular)
        ItemNeighbor.objects.filter(run_id=run.id).delete()
        PopularItem.objects.filter(run_id=run.id).delete()
        insert_frame(ItemNeighbor._meta.db_table, neighbors.assign(run_id=run.id))
        insert_frame(PopularItem._meta.db_table, popular.assign(run_id=run.id))


def _lock_referenced(*, run: ModelRun, neighbors: pd.DataFrame, popular: pd.DataFrame) -> None:
    """Check, in bulk, that the run and every movie the rows name exist, and lock them
    against deletion until the transaction ends.

    ``ItemNeighbor`` has no foreign-key constraints in the database (checking 7 million
    rows one by one at commit was most of the cost of publishing), so this is what keeps
    its rows from naming a missing run or movie. A deletion either happened before: the
    lock finds the row missing and the write is refused. Or it comes after: the run and
    movie deletions (``model_runs_delete``, ``movies_delete``) lock their rows ``FOR
    UPDATE`` before Django's cascade collects the neighbor rows, so they wait for this
    transaction and then delete the rows it wrote. ``FOR KEY SHARE`` does not block
    updates of other columns (a run's status, a movie's title). SQLite writes one
    transaction at a time: there the check alone suffices.
    """
    movie_ids = np.unique(
        np.concatenate([neighbors["movie_id"], neighbors["neighbor_id"], popular["movie_id"]])
    ).astype(np.int64)
    if not _existing_locked(ModelRun, [run.id]):
        raise RecallTablesRefused(f"run {run.id} does not exist")
    found = np.array(sorted(_existing_locked(Movie, movie_ids.tolist())), dtype=np.int64)
    missing = np.setdiff1d(movie_ids, found)
    if missing.size:
        shown = ", ".join(map(str, missing[:10].tolist()))
        raise RecallTablesRefused(
            f"{missing.size} movie(s) of run {run.id}'s recall tables do not exist: {shown}"
        )


def recall_tables_prune(*, keep: int) -> list[int]:
    """Delete the recall tables of old runs; returns the ids of the runs pruned.

    Each run publishes a neighbor list per movie and source (about 170,000 rows on
    MovieLens-100k), so they are kept only for the active run, the newest ``keep``
    succeeded runs, and runs still training; the artifacts follow the same rule
    (:mod:`.artifacts`). A run that lost only its tables gets them back from its artifact
    when it is activated again.
    """
    kept = model_runs_retained(keep=keep)
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


def _existing_locked(model: type[Model], ids: list[int]) -> set[int]:
    """Which of ``ids`` exist in ``model``'s table; on PostgreSQL those rows are locked
    ``FOR KEY SHARE`` (Django's ``select_for_update`` has no such mode)."""
    if connection.vendor != "postgresql":
        # Small data, one writer at a time: reading every id beats a 50,000-item IN.
        return set(model.objects.values_list("pk", flat=True)) & set(ids)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608
            [ids],
        )
        return {row[0] for row in cursor.fetchall()}
