"""Samples and chunk sizes that keep training's cost bounded as the data grow.

Three stages would otherwise grow with the number of viewers times the catalogue:

* the ranker's training rows: every fold's viewers with labels, ~``n_candidates`` x
  sources rows each. :func:`ranker_label_sample` keeps the held-out ratings of a seeded
  sample of viewers sized so that all folds together stay within a row budget
  (``PipelineConfig.ranker_row_budget``); the sources of each fold are still fitted on
  every viewer's ratings, so the candidates and features are those serving would see;
* the offline evaluation's scoring of every held-out viewer over the full catalogue:
  :func:`sample_ids` picks the viewers it scores;
* the dense ``(viewers, catalogue)`` arrays of candidate generation:
  :func:`rows_per_batch` bounds their cells, so a batch of a 59,047-movie catalogue
  holds fewer viewers than one of 1,682 movies.

Every sample is a deterministic function of its seed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Cells of one batch's dense (viewers, catalogue) arrays: 4M cells, 32 MB each at
#: float64; the candidate build holds about three per source at once.
MAX_BATCH_CELLS = 2**22


def sample_ids(ids: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """A seeded random subset of ``size`` distinct ids, sorted; all of them if fewer.

    Parameters
    ----------
    ids : numpy.ndarray of int, shape (n,)
        Distinct ids.
    size : int or None
        Largest sample; ``None`` keeps every id.
    seed : int

    Returns
    -------
    numpy.ndarray of int64, shape (min(n, size),)
    """
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    if size is not None and size < 0:
        raise ValueError(f"sample size must be >= 0, got {size}")
    if size is None or ids.size <= size:
        return ids
    return np.sort(np.random.default_rng(seed).choice(ids, size=size, replace=False))


def users_for_row_budget(row_budget: int, n_folds: int, rows_per_user: int) -> int:
    """Viewers per fold so that ``n_folds`` folds of ``rows_per_user`` rows fit the budget.

    ``rows_per_user`` is an upper bound (every source's top-N, no overlap), so the
    folds' real row count stays below ``row_budget``; at least one viewer per fold.
    """
    if row_budget < 1 or n_folds < 1 or rows_per_user < 1:
        raise ValueError("row_budget, n_folds and rows_per_user must be >= 1")
    return max(1, row_budget // (n_folds * rows_per_user))


def ranker_label_sample(
    label_part: pd.DataFrame,
    *,
    row_budget: int,
    n_folds: int,
    rows_per_user: int,
    seed: int,
) -> pd.DataFrame:
    """The held-out ratings of a fold restricted to a seeded sample of its viewers.

    Parameters
    ----------
    label_part : pandas.DataFrame
        A fold's held-out ratings (contract schema).
    row_budget : int
        Ranker rows allowed over all ``n_folds`` folds.
    rows_per_user : int
        Upper bound of one viewer's candidate rows.
    seed : int
        Seed of this fold's sample.

    Returns
    -------
    pandas.DataFrame
        ``label_part`` itself when every viewer fits, else the sampled viewers' rows.
    """
    users = label_part["user_id"].unique()
    size = users_for_row_budget(row_budget, n_folds, rows_per_user)
    if users.size <= size:
        return label_part
    chosen = sample_ids(users, size, seed)
    logger.info("ranker fold: %d of %d viewers (row budget %d)", size, users.size, row_budget)
    return label_part[label_part["user_id"].isin(chosen)]


def rows_per_batch(batch_size: int, n_items: int, max_cells: int = MAX_BATCH_CELLS) -> int:
    """Viewers per candidate batch: ``batch_size`` or fewer, so a dense array fits ``max_cells``."""
    return max(1, min(batch_size, max_cells // max(n_items, 1)))
