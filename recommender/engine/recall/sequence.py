"""Sequence co-occurrence: items consumed close to each other in time order."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_non_negative,
    _check_positive_int,
)
from recommender.engine.recall.selection import prune_top_k


def time_ordered(interactions: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten a timestamp matrix into per-row time-ordered sequences.

    Ties in time are broken by item index so the order is deterministic.

    Parameters
    ----------
    interactions : scipy.sparse.csr_matrix, shape (n_rows, n_items)
        Values are timestamps.

    Returns
    -------
    rows : numpy.ndarray, shape (nnz,)
        Row of each entry, non-decreasing.
    items : numpy.ndarray, shape (nnz,)
        Item of each entry, in time order within the row.
    position_from_end : numpy.ndarray, shape (nnz,)
        0 for the row's most recent entry, 1 for the one before, ...
    """
    interactions = sp.csr_matrix(interactions)
    counts = np.diff(interactions.indptr)
    rows = np.repeat(np.arange(interactions.shape[0]), counts)
    order = np.lexsort((interactions.indices, interactions.data, rows))
    items = interactions.indices[order]
    position = np.arange(order.size) - np.repeat(interactions.indptr[:-1], counts)
    position_from_end = np.repeat(counts, counts) - 1 - position
    return rows, items, position_from_end


class SequenceSource(ItemSimilaritySource):
    """Co-occurrence of items within ``window`` positions in users' timelines.

    A pair at distance ``d`` adds ``1 / d``; the counts are cosine-normalised by
    item support and pruned.  At scoring time only the ``n_recent`` latest history
    items count, the latest with weight 1, the one before with ``recency_decay``,
    and so on, so recommendations follow what the user watched last.

    Interaction values must be timestamps (any increasing order key works).

    Parameters
    ----------
    window : int
        Maximum distance in positions between co-occurring items.
    n_recent : int
        History items used at scoring time.
    recency_decay : float
        Weight ratio between consecutive history positions, in (0, 1].
    k : int
        Neighbors kept per item.
    """

    name: ClassVar[str] = "sequence"

    def __init__(
        self, window: int = 5, n_recent: int = 5, recency_decay: float = 0.8, k: int = 100
    ) -> None:
        _check_positive_int("window", window)
        _check_positive_int("n_recent", n_recent)
        _check_non_negative("recency_decay", recency_decay)
        if not 0 < recency_decay <= 1:
            raise ValueError(f"recency_decay must be in (0, 1], got {recency_decay!r}")
        _check_positive_int("k", k)
        super().__init__(window=window, n_recent=n_recent, recency_decay=recency_decay, k=k)
        self.window = window
        self.n_recent = n_recent
        self.recency_decay = recency_decay
        self.k = k

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Count windowed co-occurrences along each user's timeline.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
            Values are timestamps.
        """
        n_items = int(interactions.shape[1])
        rows, items, _ = time_ordered(interactions)
        sources, targets, weights = [], [], []
        for distance in range(1, self.window + 1):
            same_user = rows[distance:] == rows[:-distance]
            earlier, later = items[:-distance][same_user], items[distance:][same_user]
            weight = np.full(earlier.size, 1.0 / distance)
            # Both directions: ratings logged in one session have arbitrary order.
            sources += [earlier, later]
            targets += [later, earlier]
            weights += [weight, weight]
        counts = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
            shape=(n_items, n_items),
        )
        counts.setdiag(0)
        counts.eliminate_zeros()
        support = np.bincount(items, minlength=n_items).astype(np.float64)
        coo = counts.tocoo()
        values = coo.data / np.sqrt(support[coo.row] * support[coo.col])
        similarity = sp.csr_matrix((values, (coo.row, coo.col)), shape=counts.shape)
        self._set_similarity(prune_top_k(similarity, self.k), n_items)
        return self

    def history_weights(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """Geometric weights on the ``n_recent`` latest items of each row.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix, shape (n_rows, n_items)
            Values are timestamps.

        Returns
        -------
        scipy.sparse.csr_matrix, shape (n_rows, n_items)
        """
        rows, items, position_from_end = time_ordered(user_items)
        recent = position_from_end < self.n_recent
        weights = self.recency_decay ** position_from_end[recent].astype(np.float64)
        return sp.csr_matrix((weights, (rows[recent], items[recent])), shape=user_items.shape)
