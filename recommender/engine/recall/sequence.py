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
    #: Windowed pairs gathered at once (bounds fit memory; a class attribute so tests
    #: can make it tiny).
    pairs_per_block: ClassVar[int] = 2**24

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
        support = np.bincount(items, minlength=n_items).astype(np.float64)
        # Positions grouped by item: a block of items gathers its pairs from its own
        # positions only, so memory is bounded by _PAIRS_PER_BLOCK, not nnz * window.
        by_item = np.argsort(items, kind="stable")
        item_starts = np.searchsorted(items[by_item], np.arange(n_items + 1))
        per_block = max(1, self.pairs_per_block // (2 * self.window))
        parts, first = [], 0
        while first < n_items:
            stop = int(np.searchsorted(item_starts, item_starts[first] + per_block, "right")) - 1
            stop = min(max(stop, first + 1), n_items)
            positions = by_item[item_starts[first] : item_starts[stop]]
            parts.append(self._block(rows, items, positions, support, (first, stop)))
            first = stop
        similarity = sp.csr_matrix(sp.vstack(parts, format="csr"))
        similarity.sort_indices()
        self._set_similarity(similarity, n_items)
        return self

    def _block(
        self,
        rows: np.ndarray,
        items: np.ndarray,
        positions: np.ndarray,
        support: np.ndarray,
        block: tuple[int, int],
    ) -> sp.csr_matrix:
        """Pruned similarity rows of the items ``block`` (first, stop) from their positions."""
        first, stop = block
        sources, targets, weights = [], [], []
        for distance in range(1, self.window + 1):
            # Both directions: ratings logged in one session have arbitrary order.
            for partner in (positions + distance, positions - distance):
                valid = (partner >= 0) & (partner < items.size)
                valid[valid] = rows[partner[valid]] == rows[positions[valid]]
                sources.append(items[positions[valid]] - first)
                targets.append(items[partner[valid]])
                weights.append(np.full(int(valid.sum()), 1.0 / distance))
        counts = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))),
            shape=(stop - first, support.size),
        )
        coo = counts.tocoo()
        keep = coo.row + first != coo.col
        row, col = coo.row[keep], coo.col[keep]
        values = coo.data[keep] / np.sqrt(support[row + first] * support[col])
        return prune_top_k(sp.csr_matrix((values, (row, col)), shape=counts.shape), self.k)

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
