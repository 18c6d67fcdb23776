"""Input data contract and id <-> index mapping.

Everything inside the engine works on dense ``0..n-1`` indices; this module is
the only place that knows about external ``user_id`` / ``item_id`` values.

Interaction matrices are CSR ``(n_users, n_items)`` whose stored values are the
interaction *timestamps* (unix seconds, strictly positive).  Sources that ignore
time binarise the matrix; time-aware sources (sequence co-occurrence, recency
popularity) read the order from the values.  A parallel CSR with the same
sparsity pattern holds the explicit ratings where a feature needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

logger = logging.getLogger(__name__)

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
ITEM_COLUMNS = ("item_id", "year", "genres", "title")
USER_COLUMNS = ("user_id", "age", "gender", "occupation", "zip_code")


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; expected {list(columns)}")


def empty_items() -> pd.DataFrame:
    """Return an empty ``items`` frame with the contract's columns."""
    return pd.DataFrame(
        {
            "item_id": pd.Series(dtype="int64"),
            "year": pd.Series(dtype="float64"),
            "genres": pd.Series(dtype="object"),
            "title": pd.Series(dtype="object"),
        }
    )


def empty_users() -> pd.DataFrame:
    """Return an empty ``users`` frame with the contract's columns."""
    return pd.DataFrame(
        {
            "user_id": pd.Series(dtype="int64"),
            "age": pd.Series(dtype="int64"),
            "gender": pd.Series(dtype="object"),
            "occupation": pd.Series(dtype="object"),
            "zip_code": pd.Series(dtype="object"),
        }
    )


@dataclass(frozen=True)
class InteractionData:
    """Ratings plus optional item and user side tables.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Columns ``user_id`` (int), ``item_id`` (int), ``rating`` (float, 1-5) and
        ``timestamp`` (int unix seconds).
    items : pandas.DataFrame, optional
        Columns ``item_id``, ``year`` (float, NaN if unknown), ``genres``
        (sequence of genre names) and ``title``.  Items may have no ratings.
    users : pandas.DataFrame, optional
        Columns ``user_id``, ``age``, ``gender``, ``occupation``, ``zip_code``.
        Users may have no ratings and rated users may have no row here.
    """

    ratings: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        _require_columns(self.ratings, RATING_COLUMNS, "ratings")
        if self.items is not None:
            _require_columns(self.items, ITEM_COLUMNS, "items")
        if self.users is not None:
            _require_columns(self.users, USER_COLUMNS, "users")
        if len(self.ratings) and (self.ratings["timestamp"] <= 0).any():
            # Timestamps are stored as sparse values, where 0 would mean "absent".
            raise ValueError("ratings.timestamp must be strictly positive unix seconds")

    @property
    def items_or_empty(self) -> pd.DataFrame:
        """The items table, or an empty one with the right columns."""
        return self.items if self.items is not None else empty_items()

    @property
    def users_or_empty(self) -> pd.DataFrame:
        """The users table, or an empty one with the right columns."""
        return self.users if self.users is not None else empty_users()

    def with_ratings(self, ratings: pd.DataFrame) -> InteractionData:
        """Return a copy holding ``ratings`` and the same side tables."""
        return InteractionData(ratings=ratings, items=self.items, users=self.users)


class IdIndex:
    """Bijection between external integer ids and dense ``0..n-1`` indices.

    Parameters
    ----------
    ids : array-like of int
        External ids; duplicates are dropped and the index follows sorted order,
        so the mapping is deterministic for a given id set.
    """

    def __init__(self, ids: np.ndarray | pd.Series | list[int]) -> None:
        self.ids: np.ndarray = np.unique(np.asarray(ids, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.ids.size)

    def index_of(self, ids: np.ndarray | pd.Series | list[int]) -> np.ndarray:
        """Map external ids to indices.

        Parameters
        ----------
        ids : array-like of int, shape (m,)

        Returns
        -------
        numpy.ndarray of int64, shape (m,)
            Index of each id, ``-1`` for ids outside the index.
        """
        query = np.asarray(ids, dtype=np.int64)
        if self.ids.size == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        position = np.searchsorted(self.ids, query)
        position = np.minimum(position, self.ids.size - 1)
        return np.where(self.ids[position] == query, position, -1).astype(np.int64)

    def id_of(self, indices: np.ndarray) -> np.ndarray:
        """Map indices back to external ids; ``-1`` indices stay ``-1``.

        Parameters
        ----------
        indices : numpy.ndarray of int, any shape

        Returns
        -------
        numpy.ndarray of int64, same shape as ``indices``
        """
        indices = np.asarray(indices, dtype=np.int64)
        if self.ids.size == 0:
            return np.full(indices.shape, -1, dtype=np.int64)
        return np.where(indices >= 0, self.ids[np.clip(indices, 0, None)], -1)


def catalogue_index(data: InteractionData) -> IdIndex:
    """Index of every recommendable item: the items table plus any rated item.

    Parameters
    ----------
    data : InteractionData

    Returns
    -------
    IdIndex
    """
    return IdIndex(
        np.concatenate(
            [
                data.items_or_empty["item_id"].to_numpy(np.int64),
                data.ratings["item_id"].to_numpy(np.int64),
            ]
        )
    )


def deduplicate_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Keep only the latest rating per ``(user_id, item_id)`` pair.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Ratings in the contract's schema, shape (m, 4+).

    Returns
    -------
    pandas.DataFrame
        At most one row per pair, shape (m', 4+).
    """
    users = ratings["user_id"].to_numpy(np.int64)
    items = ratings["item_id"].to_numpy(np.int64)
    # One int64 key per pair: np.unique over 1-D keys is several times faster than over
    # rows, and ids are MovieLens-sized (well below 2**31).
    keys = (users << 32) | (items & 0xFFFFFFFF)
    if np.unique(keys).size == keys.size:
        # The common case (and every serving request) needs no pandas sort.
        return ratings
    ordered = ratings.sort_values(["user_id", "item_id", "timestamp"], kind="stable")
    return ordered.drop_duplicates(["user_id", "item_id"], keep="last")


@dataclass(frozen=True)
class HistoryMatrices:
    """Histories of a batch of users over the item catalogue.

    Attributes
    ----------
    timestamps : scipy.sparse.csr_matrix, shape (n_users, n_items)
        Interaction timestamps (float64 seconds, > 0) at the interacted items.
    ratings : scipy.sparse.csr_matrix, shape (n_users, n_items)
        Explicit ratings with exactly the same sparsity pattern.
    """

    timestamps: sp.csr_matrix
    ratings: sp.csr_matrix

    @property
    def n_users(self) -> int:
        """Number of history rows."""
        return int(self.timestamps.shape[0])

    def take_rows(self, rows: np.ndarray) -> HistoryMatrices:
        """The histories of ``rows`` (positions), in that order."""
        return HistoryMatrices(timestamps=self.timestamps[rows], ratings=self.ratings[rows])


def build_histories(
    ratings: pd.DataFrame,
    user_index: IdIndex,
    item_index: IdIndex,
) -> HistoryMatrices:
    """Build the timestamp and rating CSR matrices for the users in ``user_index``.

    Ratings of users or items outside the indices are dropped (logged), so a
    serving request can carry items that are unknown to the fitted model.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Ratings in the contract's schema.
    user_index, item_index : IdIndex
        Row and column indices of the result.

    Returns
    -------
    HistoryMatrices
        Matrices of shape ``(len(user_index), len(item_index))``.
    """
    ratings = deduplicate_ratings(ratings)
    rows = user_index.index_of(ratings["user_id"].to_numpy())
    cols = item_index.index_of(ratings["item_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    dropped = int((~keep).sum())
    if dropped:
        logger.info("dropped %d ratings with users/items outside the index", dropped)
    shape = (len(user_index), len(item_index))
    rows, cols = rows[keep], cols[keep]
    timestamps = sp.csr_matrix(
        (ratings["timestamp"].to_numpy(dtype=np.float64)[keep], (rows, cols)), shape=shape
    )
    values = sp.csr_matrix(
        (ratings["rating"].to_numpy(dtype=np.float64)[keep], (rows, cols)), shape=shape
    )
    timestamps.sort_indices()
    values.sort_indices()
    return HistoryMatrices(timestamps=timestamps, ratings=values)
