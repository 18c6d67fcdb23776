"""Train/test splits of a ratings frame (all return ``(train, test)`` frames)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def _check_ratio(ratio: float) -> None:
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be strictly between 0 and 1, got {ratio!r}")


def _split_by_rank(
    ratings: pd.DataFrame, order_key: np.ndarray, ratio: float, group_column: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within each group, the first ``round(ratio * count)`` rows by ``order_key`` train.

    ``round`` is numpy's half-to-even, as in Microsoft Recommenders (pandas
    ``Series.round``), so split sizes match theirs exactly.
    """
    frame = ratings.assign(_order=order_key)
    frame = frame.sort_values([group_column, "_order"], kind="stable")
    groups = frame.groupby(group_column, sort=False)
    count = groups[group_column].transform("count").to_numpy()
    rank = groups.cumcount().to_numpy() + 1
    in_train = rank <= np.round(ratio * count)
    frame = frame.drop(columns="_order")
    return frame[in_train], frame[~in_train]


def stratified_split(
    ratings: pd.DataFrame, ratio: float = 0.75, seed: int = 42, filter_by: str = "user"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user (or per-item) random split, like Recommenders' ``python_stratified_split``.

    Every row gets a uniform random key from the legacy ``np.random`` stream seeded
    with ``seed`` (what Recommenders draws), rows are ordered by key inside each
    group, and the first ``round(ratio * group_size)`` go to train.

    Parameters
    ----------
    ratings : pandas.DataFrame, shape (m, 4)
    ratio : float
        Train share per group.
    seed : int
    filter_by : {"user", "item"}

    Returns
    -------
    train, test : pandas.DataFrame
    """
    _check_ratio(ratio)
    if filter_by not in ("user", "item"):
        raise ValueError(f"filter_by must be 'user' or 'item', got {filter_by!r}")
    keys = np.random.RandomState(seed).rand(len(ratings))
    return _split_by_rank(ratings, keys, ratio, f"{filter_by}_id")


def time_split(ratings: pd.DataFrame, ratio: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's most recent ``1 - ratio`` share of ratings.

    Rows are ordered by ``timestamp`` then ``item_id`` (deterministic ties), like
    Recommenders' ``python_chrono_split(filter_by="user")``.

    Returns
    -------
    train, test : pandas.DataFrame
    """
    _check_ratio(ratio)
    # Combine time and item id into one sortable key so ties resolve by item id.
    order = np.lexsort((ratings["item_id"].to_numpy(), ratings["timestamp"].to_numpy()))
    key = np.empty(len(ratings), dtype=np.int64)
    key[order] = np.arange(len(ratings))
    return _split_by_rank(ratings, key, ratio, "user_id")


def random_split(
    ratings: pd.DataFrame, ratio: float = 0.8, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Uniformly random split of rows (not per user).

    Returns
    -------
    train, test : pandas.DataFrame
        ``round(ratio * m)`` and the remaining rows.
    """
    _check_ratio(ratio)
    permutation = np.random.default_rng(seed).permutation(len(ratings))
    n_train = round(ratio * len(ratings))
    return ratings.iloc[permutation[:n_train]], ratings.iloc[permutation[n_train:]]
