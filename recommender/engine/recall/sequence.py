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
    #: Cells of the dense array a block's counts are summed in (64 MB at float64).
    cells_per_block: ClassVar[int] = 2**23

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
        interactions = sp.csr_matrix(interactions)
        n_items = int(interactions.shape[1])
        rows, items, ahead = time_ordered(interactions)
        # Entries before and after each one in its row: a partner d positions away is
        # in the same timeline when there is room for d.
        behind = np.arange(items.size) - interactions.indptr[rows]
        room = (behind.astype(np.int32), ahead.astype(np.int32))
        del rows, behind, ahead
        support = np.bincount(items, minlength=n_items).astype(np.float64)
        # Positions grouped by item: a block of items gathers its pairs from its own
        # positions only, so memory is bounded by _PAIRS_PER_BLOCK, not nnz * window.
        by_item = np.argsort(items, kind="stable")
        item_starts = np.searchsorted(items[by_item], np.arange(n_items + 1))
        per_block = max(1, self.pairs_per_block // (2 * self.window))
        # Each block's counts are summed in a dense (block items, n_items) array.
        items_per_block = max(1, self.cells_per_block // max(n_items, 1))
        parts, first = [], 0
        while first < n_items:
            stop = int(np.searchsorted(item_starts, item_starts[first] + per_block, "right")) - 1
            stop = min(max(stop, first + 1), n_items, first + items_per_block)
            positions = by_item[item_starts[first] : item_starts[stop]]
            parts.append(self._block(items, room, positions, support, (first, stop)))
            first = stop
        similarity = sp.csr_matrix(sp.vstack(parts, format="csr"))
        similarity.sort_indices()
        self._set_similarity(similarity, n_items)
        return self

    def _block(
        self,
        items: np.ndarray,
        room: tuple[np.ndarray, np.ndarray],
        positions: np.ndarray,
        support: np.ndarray,
        block: tuple[int, int],
    ) -> sp.csr_matrix:
        """Pruned similarity rows of the items ``block`` (first, stop) from their positions."""
        first, stop = block
        n_rows, n_items = stop - first, support.size
        own = (items[positions] - first) * n_items
        behind, ahead = room[0][positions], room[1][positions]
        keys, weights = [], []
        for distance in range(1, self.window + 1):
            # Both directions: ratings logged in one session have arbitrary order.
            for step, space in ((distance, ahead), (-distance, behind)):
                valid = space >= distance
                keys.append(own[valid] + items[positions[valid] + step])
                weights.append(np.full(keys[-1].size, 1.0 / distance))
        # Summing the pairs by bincount into a dense block is linear; a sparse matrix
        # would sort every pair to sum the duplicates (most of the fit time before).
        counts = np.bincount(
            np.concatenate(keys), weights=np.concatenate(weights), minlength=n_rows * n_items
        )
        counts[np.arange(n_rows) * n_items + np.arange(first, stop)] = 0.0
        cells = np.flatnonzero(counts)
        row, col = np.divmod(cells, n_items)
        values = counts[cells] / np.sqrt(support[row + first] * support[col])
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n_rows))])
        return prune_top_k(sp.csr_matrix((values, col, indptr), shape=(n_rows, n_items)), self.k)

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
