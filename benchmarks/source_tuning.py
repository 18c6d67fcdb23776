"""Grid search of recall-source hyper-parameters on a validation split (``offline_eval --tune``).

The validation split is carved from the *training* ratings only (never from
the test part), with the same protocol as the evaluation: per-user random or
per-user latest-share hold-out.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from recommender.engine.config import build_source
from recommender.engine.data import IdIndex, build_histories
from recommender.engine.evaluation import relevant_lists
from recommender.engine.metrics import ndcg_at_k
from recommender.engine.splits import stratified_split, time_split

logger = logging.getLogger(__name__)


def validation_split(
    train: pd.DataFrame, protocol: str, share: float, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Carve ``(fit, validation)`` from training ratings.

    Parameters
    ----------
    train : pandas.DataFrame
    protocol : {"random", "time"}
        Per-user random hold-out or per-user latest ``share``.
    share : float
        Held-out share per user.
    seed : int
    """
    if protocol == "random":
        return stratified_split(train, 1 - share, seed=seed)
    if protocol == "time":
        return time_split(train, 1 - share)
    raise ValueError(f"protocol must be 'random' or 'time', got {protocol!r}")


def tune_source(
    kind: str,
    grid: Mapping[str, Sequence[Any]],
    train: pd.DataFrame,
    protocol: str = "random",
    share: float = 0.25,
    k: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """NDCG@k of every parameter combination of one source kind.

    Parameters
    ----------
    kind : str
        Source kind (see :data:`recommender.engine.recall.SOURCE_CLASSES`).
    grid : mapping of parameter name to candidate values
    train : pandas.DataFrame
        Training ratings; the validation part is carved from them.
    protocol, share, seed
        See :func:`validation_split`.
    k : int

    Returns
    -------
    pandas.DataFrame
        One row per combination (parameters + ``ndcg``), best first.
    """
    fit_part, held_out = validation_split(train, protocol, share, seed)
    users = IdIndex(train["user_id"])
    items = IdIndex(train["item_id"])
    history = build_histories(fit_part, users, items).timestamps
    relevant = relevant_lists(held_out, users.ids)
    rows = []
    names = list(grid)
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values, strict=True))
        source = build_source({"kind": kind, **params}).fit(history)
        ids, _ = source.recommend(history, k)
        score = ndcg_at_k(items.id_of(ids), relevant, k)
        logger.info("%s %s: ndcg@%d %.4f", kind, params, k, score)
        rows.append({**params, "ndcg": score})
    return pd.DataFrame(rows).sort_values("ndcg", ascending=False, kind="stable")
