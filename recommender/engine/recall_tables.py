"""Recall tables of a fitted model as frames: what Django publishes per model run.

Neighbor lists of the item-to-item sources (``ItemNeighbor`` rows) and the cold-start
popularity list (``PopularItem`` rows), in external ids. They need the sources only, so
they are available right after :func:`recommender.engine.training.fit_sources`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.model import RecommenderModel
from recommender.engine.recall import ItemSimilaritySource, top_n


def item_source_names(model: RecommenderModel) -> list[str]:
    """Names of the item-to-item sources, the ones with a neighbor table."""
    return [
        name for name, source in model.sources.items() if isinstance(source, ItemSimilaritySource)
    ]


def popularity_table(model: RecommenderModel, n: int = 100) -> pd.DataFrame:
    """The cold-start list: top-``n`` items of the popularity source.

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id``, ``score``, ``rank`` (1-based), best first.
    """
    empty = sp.csr_matrix((1, len(model.item_index)))
    ids, scores = top_n(model.popularity_source.score(empty), n, exclude=empty)
    valid = ids[0] >= 0
    return pd.DataFrame(
        {
            "item_id": model.item_index.id_of(ids[0][valid]),
            "score": scores[0][valid],
            "rank": np.arange(1, int(valid.sum()) + 1),
        }
    )


def neighbor_table(model: RecommenderModel, source_name: str, n: int = 20) -> pd.DataFrame:
    """Pruned top-``n`` neighbor table of one source (for ``ItemNeighbor``).

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id``, ``neighbor_id``, ``score``, ``rank`` (1-based),
        ``source``; only positive-similarity neighbors.
    """
    ids, scores = model.sources[source_name].neighbor_table(n)
    rank = np.broadcast_to(np.arange(1, n + 1), ids.shape)
    item = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)
    valid = ids >= 0
    return pd.DataFrame(
        {
            "item_id": model.item_index.id_of(item[valid]),
            "neighbor_id": model.item_index.id_of(ids[valid]),
            "score": scores[valid],
            "rank": rank[valid],
            "source": source_name,
        }
    )
