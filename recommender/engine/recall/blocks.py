"""Item x item products of large catalogues, a block of rows at a time, and threads.

The co-occurrence of a large catalogue is nearly dense (ml-25m's 59,047 movies would
need tens of GB), its pruned top-``k`` lists are not: :func:`blockwise_top_k` never holds
more than one unpruned block per thread. :func:`threads_for_training` is how the trainer
bounds every thread pool the sources use (``VIDEOREC_TRAINING_THREADS``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.engine.recall.selection import prune_top_k

# Unpruned cells of one block of an item x item product (about 200 MB at float64).
PRODUCT_BLOCK_CELLS = 2**24
_THREADS: ContextVar[int] = ContextVar("training_threads", default=0)


def blockwise_top_k(
    left: sp.csr_matrix,
    right: sp.csr_matrix,
    k: int | None,
    weigh: Callable[[sp.csr_matrix, int], sp.csr_matrix] | None = None,
    block_cells: int = PRODUCT_BLOCK_CELLS,
) -> sp.csr_matrix:
    """``left @ right`` without its diagonal, each row pruned to its ``k`` best entries.

    The product is built a block of rows at a time, so only one block per thread is
    ever unpruned: an item x item co-occurrence of a large catalogue is nearly dense
    (a 59,047-item catalogue would need tens of GB), its top-``k`` lists are not.
    Rows come out exactly as from the whole product (each row is computed alone);
    blocks run on :func:`training_threads` threads (scipy releases the GIL).

    Parameters
    ----------
    left : scipy.sparse.csr_matrix, shape (n_rows, n_inner)
    right : scipy.sparse.csr_matrix, shape (n_inner, n_cols)
    k : int or None
        Entries kept per row; ``None`` keeps all.
    weigh : callable, optional
        ``weigh(block, first_row)`` rescales a block of product rows (same pattern).
    block_cells : int
        Rows per block times ``n_cols`` (bounds the unpruned block).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_rows, n_cols)
        Explicit zeros dropped, indices sorted.
    """
    n_rows, n_cols = left.shape[0], right.shape[1]
    step = max(1, block_cells // max(n_cols, 1))

    def block(start: int) -> sp.csr_matrix:
        product = sp.csr_matrix(left[start : start + step] @ right)
        if weigh is not None:
            product = weigh(product, start)
        rows = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
        product.data[rows + start == product.indices] = 0.0
        product.eliminate_zeros()
        return product if k is None else prune_top_k(product, k)

    starts = range(0, n_rows, step)
    with ThreadPoolExecutor(max_workers=training_threads()) as pool:
        parts = list(pool.map(block, starts))
    if not parts:
        return sp.csr_matrix((n_rows, n_cols))
    result = sp.csr_matrix(sp.vstack(parts, format="csr"))
    result.sort_indices()
    return result


def dense_gram(binary: sp.csr_matrix) -> np.ndarray:
    """``binary.T @ binary`` as a dense float64 array, filled a block of rows at a time.

    Parameters
    ----------
    binary : scipy.sparse.csr_matrix, shape (n_users, n_items)

    Returns
    -------
    numpy.ndarray, shape (n_items, n_items)
    """
    n_items = binary.shape[1]
    by_item = sp.csr_matrix(binary.T)
    gram = np.empty((n_items, n_items))
    step = max(1, PRODUCT_BLOCK_CELLS // max(n_items, 1))

    def fill(start: int) -> None:
        gram[start : start + step] = (by_item[start : start + step] @ binary).toarray()

    with ThreadPoolExecutor(max_workers=training_threads()) as pool:
        list(pool.map(fill, range(0, n_items, step)))
    return gram


def block_rows(matrix: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix, shape (nnz,)."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


@contextmanager
def threads_for_training(threads: int) -> Iterator[None]:
    """Bound every thread pool of the sources to ``threads`` (0: the machine's cores).

    Covers BLAS and OpenMP (``implicit``, numpy's linear algebra) through
    ``threadpoolctl`` and the blocks of :func:`blockwise_top_k`.
    """
    token = _THREADS.set(threads or os.cpu_count() or 1)
    try:
        with threadpool_limits(limits=threads or None):
            yield
    finally:
        _THREADS.reset(token)


def training_threads() -> int:
    """Threads a source may use: set by :func:`threads_for_training`, else every core."""
    return _THREADS.get() or os.cpu_count() or 1
