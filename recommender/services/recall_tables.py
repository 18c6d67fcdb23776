"""The recall tables a run publishes (neighbor lists, popularity list), and their pruning.

Serving reads a run's candidates from its artifact; these tables are the same lists in
the database, for the admin's inspector and the similar-movies endpoint.
"""

from __future__ import annotations

import logging

import pandas as pd
from django.db import transaction
from django.db.models import Exists, OuterRef

from common.bulk import insert_frame
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


def recall_tables_write(*, run: ModelRun, neighbors: pd.DataFrame, popular: pd.DataFrame) -> None:
    """Replace ``run``'s tables with these rows (``movie_id``, ``source``, ``rank``,
    ``neighbor_id``, ``score``; ``movie_id``, ``score``, ``rank``), in one transaction.

    The run's old rows are deleted first, so the new ones cannot conflict: they are
    appended with ``COPY`` (millions of rows at MovieLens-25M size), no staging table.
    """
    with transaction.atomic():
        ItemNeighbor.objects.filter(run_id=run.id).delete()
        PopularItem.objects.filter(run_id=run.id).delete()
        insert_frame(ItemNeighbor._meta.db_table, neighbors.assign(run_id=run.id))
        insert_frame(PopularItem._meta.db_table, popular.assign(run_id=run.id))


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
