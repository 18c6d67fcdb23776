"""Selection of the best entries of score rows and similarity rows.

Shared by every recall source (top-``n`` items per user, pruned neighbor lists) and by
the scorer's cold-start fill. Ties always resolve to the lower column index so that
results are deterministic across runs and machines.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Above this share of stored entries pruning densifies row blocks of this many cells.
_DENSE_PRUNE_DENSITY = 0.05
_DENSE_BLOCK_CELLS = 2**21


def top_n(
    scores: np.ndarray, n: int, exclude: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Select the ``n`` best columns of every row.

    Ties are broken by the lower column index so results are deterministic.
    Entries equal to ``-inf`` (and columns stored in ``exclude``) are never
    returned; rows with fewer eligible columns are padded with id ``-1`` and
    score ``-inf``.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n_rows, n_cols)
    n : int
        Number of columns to return per row.
    exclude : scipy.sparse.csr_matrix, shape (n_rows, n_cols), optional
        Stored entries mark columns to drop (e.g. already seen items).

    Returns
    -------
    ids : numpy.ndarray of int64, shape (n_rows, n)
    values : numpy.ndarray of float64, shape (n_rows, n)
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    n_rows, n_cols = scores.shape
    if exclude is not None and exclude.nnz:
        coo = exclude.tocoo()
        scores[coo.row, coo.col] = -np.inf
    ids = np.full((n_rows, n), -1, dtype=np.int64)
    values = np.full((n_rows, n), -np.inf)
    k = min(n, n_cols)
    if k == 0 or n_rows == 0:
        return ids, values
    columns = np.broadcast_to(np.arange(n_cols), scores.shape)
    if k < n_cols:
        # argpartition is O(n_cols); the k winners are then sorted exactly.
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        candidate_scores = np.take_along_axis(scores, candidates, axis=1)
        order = np.lexsort((candidates, -candidate_scores), axis=1)
        best = np.take_along_axis(candidates, order, axis=1)
        # Rows with more than k columns at the k-th value must resolve the tie by
        # column index, which argpartition ignores: fully sort just those rows.
        tied = np.count_nonzero(scores >= candidate_scores.min(axis=1, keepdims=True), axis=1) > k
        if tied.any():
            best[tied] = np.lexsort((columns[tied], -scores[tied]), axis=1)[:, :k]
    else:
        best = np.lexsort((columns, -scores), axis=1)
    best_scores = np.take_along_axis(scores, best, axis=1)
    valid = np.isfinite(best_scores)
    ids[:, :k] = np.where(valid, best, -1)
    values[:, :k] = np.where(valid, best_scores, -np.inf)
    return ids, values


def prune_top_k(similarity: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row of a sparse similarity matrix.

    Parameters
    ----------
    similarity : scipy.sparse matrix, shape (n_items, n_items)
    k : int

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_items, n_items)
        Rows with at most ``k`` stored entries, sorted indices, no explicit zeros.
    """
    similarity = sp.csr_matrix(similarity)
    similarity.eliminate_zeros()
    counts = np.diff(similarity.indptr)
    if counts.max(initial=0) <= k:
        similarity.sort_indices()
        return similarity
    n_rows, n_cols = similarity.shape
    if similarity.nnz > _DENSE_PRUNE_DENSITY * n_rows * n_cols:
        return _prune_dense_blocks(similarity, k)
    rows = np.repeat(np.arange(n_rows), counts)
    # Sort every row's entries by descending value (ties by column), then keep
    # the first k of each row: one global lexsort instead of a Python row loop.
    order = np.lexsort((similarity.indices, -similarity.data, rows))
    position_in_row = np.arange(order.size) - np.repeat(similarity.indptr[:-1], counts)
    keep = order[position_in_row < k]
    pruned = sp.csr_matrix(
        (similarity.data[keep], (rows[keep], similarity.indices[keep])), shape=similarity.shape
    )
    pruned.sort_indices()
    return pruned


def _prune_dense_blocks(similarity: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """:func:`prune_top_k` for dense-ish matrices: O(n) selection on row blocks.

    Sorting millions of stored entries dominates otherwise; absent entries become
    ``-inf`` so they are never selected, and :func:`top_n` keeps the same
    descending-value, ascending-column order.
    """
    n_rows, n_cols = similarity.shape
    block = max(1, _DENSE_BLOCK_CELLS // n_cols)
    parts = []
    for start in range(0, n_rows, block):
        rows = similarity[start : start + block]
        dense = np.full(rows.shape, -np.inf)
        coo = rows.tocoo()
        dense[coo.row, coo.col] = coo.data
        ids, values = top_n(dense, k)
        valid = ids >= 0
        row_of = np.broadcast_to(np.arange(rows.shape[0])[:, None], ids.shape)
        parts.append(sp.csr_matrix((values[valid], (row_of[valid], ids[valid])), shape=rows.shape))
    pruned = sp.csr_matrix(sp.vstack(parts))
    pruned.sort_indices()
    return pruned
