"""Common interface of the recall (candidate) sources and shared helpers.

Modelled on ``implicit``'s ``RecommenderBase`` and LensKit's ``Recommender``:
hyper-parameters are validated in the constructor, ``fit`` sets the learned
(trailing-underscore) state, and ``recommend`` is batched.  Unlike implicit,
every source scores from the user's *current* history row (fold-in), never from a
user index frozen at training time, so serving can score users whose history
changed after the model was fitted.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

State = dict[str, np.ndarray]
# Above this share of stored entries pruning densifies row blocks of this many cells.
_DENSE_PRUNE_DENSITY = 0.05
_DENSE_BLOCK_CELLS = 2**21


class NotFittedError(RuntimeError):
    """Raised when a source is used before :meth:`fit`."""


@runtime_checkable
class RecallSource(Protocol):
    """What the candidate generator, ranker and Django side rely on.

    ``interactions`` / ``user_items`` are CSR ``(n_users, n_items)`` matrices whose
    values are interaction timestamps (> 0); time-agnostic sources binarise them.
    """

    name: str
    needs_history: bool

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Learn from the training interactions, shape (n_users, n_items)."""
        ...

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores of every item, shape (n_rows, n_items), higher is better."""
        ...

    def recommend(
        self, user_items: sp.csr_matrix, n: int, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` item indices and scores per history row, each (n_rows, n)."""
        ...

    def similar_items(self, item_index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` neighbours of one item (never the item itself), each (n,)."""
        ...

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        ...

    def get_state(self) -> State:
        """Learned state as named numpy arrays (for artifacts)."""
        ...

    def set_state(self, state: State) -> None:
        """Restore the learned state produced by :meth:`get_state`."""
        ...


def binarize(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Return a float64 CSR copy with every stored entry set to 1.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n, m)

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, m)
    """
    binary = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    binary.eliminate_zeros()
    binary.data[:] = 1.0
    return binary


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


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


class BaseRecallSource:
    """Shared behaviour: fitted-state checks, masking, top-n, parameters, state.

    Subclasses implement ``fit``, ``score`` and ``_similarity_rows`` and list their
    learned array attributes in ``_state_fields``.
    """

    name: ClassVar[str] = "base"
    #: Whether an empty history yields no evidence (no recommendations).
    needs_history: ClassVar[bool] = True
    _state_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self._params = params
        self.n_items_: int | None = None

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable."""
        return dict(self._params)

    def _check_fitted(self) -> int:
        if self.n_items_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")
        return self.n_items_

    def _check_user_items(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        n_items = self._check_fitted()
        user_items = sp.csr_matrix(user_items)
        if user_items.shape[1] != n_items:
            raise ValueError(
                f"user_items has {user_items.shape[1]} columns but the source was fitted "
                f"on {n_items} items"
            )
        return user_items

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _similarity_rows(self, item_indices: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def recommend(
        self, user_items: sp.csr_matrix, n: int, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items per history row.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix, shape (n_rows, n_items)
            Current histories (values are timestamps).
        n : int
            Number of items per row.
        exclude_seen : bool
            Drop items present in the row's history.

        Returns
        -------
        ids : numpy.ndarray of int64, shape (n_rows, n)
            Item indices, best first, padded with ``-1``.
        scores : numpy.ndarray of float64, shape (n_rows, n)
            Scores, descending, padded with ``-inf``.
        """
        _check_positive_int("n", n)
        user_items = self._check_user_items(user_items)
        scores = self.score(user_items)
        if self.needs_history:
            scores[np.diff(user_items.indptr) == 0] = -np.inf
        return top_n(scores, n, exclude=user_items if exclude_seen else None)

    def similar_items(self, item_index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` neighbours of one item, excluding the item itself.

        Returns
        -------
        ids : numpy.ndarray of int64, shape (n,)
        scores : numpy.ndarray of float64, shape (n,)
        """
        ids, scores = self.neighbour_table(n, np.array([item_index]))
        return ids[0], scores[0]

    def neighbour_table(
        self, n: int, item_indices: np.ndarray | None = None, batch_size: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pruned top-``n`` neighbour table (what Django stores as ``ItemNeighbor``).

        Only positive-similarity neighbours are returned; the full item x item
        matrix is never materialised beyond ``batch_size`` rows.

        Parameters
        ----------
        n : int
        item_indices : numpy.ndarray of int, shape (m,), optional
            Items to list; all items by default.

        Returns
        -------
        ids : numpy.ndarray of int64, shape (m, n), padded with ``-1``
        scores : numpy.ndarray of float64, shape (m, n), padded with ``-inf``
        """
        _check_positive_int("n", n)
        n_items = self._check_fitted()
        if item_indices is None:
            item_indices = np.arange(n_items)
        item_indices = np.asarray(item_indices, dtype=np.int64)
        if item_indices.size and (item_indices.min() < 0 or item_indices.max() >= n_items):
            raise IndexError(f"item index out of range 0..{n_items - 1}")
        ids_parts, score_parts = [], []
        for start in range(0, max(item_indices.size, 1), batch_size):
            batch = item_indices[start : start + batch_size]
            rows = np.array(self._similarity_rows(batch), dtype=np.float64)
            rows[np.arange(batch.size), batch] = -np.inf
            rows[rows <= 0] = -np.inf
            ids, scores = top_n(rows, n)
            ids_parts.append(ids)
            score_parts.append(scores)
        return np.concatenate(ids_parts), np.concatenate(score_parts)

    def get_state(self) -> State:
        """Learned arrays keyed by attribute name (sparse matrices are split)."""
        n_items = self._check_fitted()
        state: State = {"n_items": np.array(n_items, dtype=np.int64)}
        for field in self._state_fields:
            value = getattr(self, field)
            if sp.issparse(value):
                csr = sp.csr_matrix(value)
                state[f"{field}.data"] = csr.data
                state[f"{field}.indices"] = csr.indices
                state[f"{field}.indptr"] = csr.indptr
                state[f"{field}.shape"] = np.array(csr.shape, dtype=np.int64)
            else:
                state[field] = np.asarray(value)
        return state

    def set_state(self, state: State) -> None:
        """Restore the arrays produced by :meth:`get_state`."""
        for field in self._state_fields:
            if f"{field}.data" in state:
                value: Any = sp.csr_matrix(
                    (state[f"{field}.data"], state[f"{field}.indices"], state[f"{field}.indptr"]),
                    shape=tuple(int(v) for v in state[f"{field}.shape"]),
                )
            elif field in state:
                value = np.asarray(state[field])
            else:
                raise KeyError(f"state for {type(self).__name__} lacks {field!r}")
            setattr(self, field, value)
        self.n_items_ = int(state["n_items"])


class ItemSimilaritySource(BaseRecallSource):
    """A source scoring ``weights(history) @ S`` with an item x item matrix ``S``.

    ``S[h, j]`` is how much having item ``h`` in the history supports item ``j``;
    it may be sparse (pruned) or dense (EASE).  Because scores are linear in the
    history, the history item contributing most to a recommendation is exact,
    which is what the API's "because you rated ..." reason uses.
    """

    _state_fields: ClassVar[tuple[str, ...]] = ("similarity_",)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.similarity_: sp.csr_matrix | np.ndarray | None = None

    def _set_similarity(self, similarity: sp.spmatrix | np.ndarray, n_items: int) -> None:
        self.similarity_ = similarity
        self.n_items_ = n_items
        stored = similarity.nnz if sp.issparse(similarity) else similarity.size
        logger.debug("%s fitted: %d items, %d stored similarities", self.name, n_items, stored)

    def history_weights(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """Weight of each history entry in the score; binary by default.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix, shape (n_rows, n_items)

        Returns
        -------
        scipy.sparse.csr_matrix, shape (n_rows, n_items)
        """
        return binarize(user_items)

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores ``history_weights(user_items) @ S``, shape (n_rows, n_items)."""
        weights = self.history_weights(self._check_user_items(user_items))
        if sp.issparse(self.similarity_):
            return (weights @ self.similarity_).toarray()
        # Match the dense matrix's dtype: otherwise scipy upcasts all of it per call.
        return np.asarray(weights.astype(self.similarity_.dtype) @ self.similarity_, np.float64)

    def _similarity_rows(self, item_indices: np.ndarray) -> np.ndarray:
        rows = self.similarity_[item_indices]
        return rows.toarray() if sp.issparse(rows) else np.asarray(rows)

    def explain(self, user_items: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        """History item contributing most to each recommended item of one user.

        Parameters
        ----------
        user_items : scipy.sparse.csr_matrix, shape (1, n_items)
        items : numpy.ndarray of int, shape (m,)

        Returns
        -------
        numpy.ndarray of int64, shape (m,)
            Index of the history item with the largest positive contribution,
            ``-1`` when nothing in the history supports the item.
        """
        weights = self.history_weights(self._check_user_items(user_items))
        history = weights.indices
        if history.size == 0 or len(items) == 0:
            return np.full(len(items), -1, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if sp.issparse(self.similarity_):
            block = self.similarity_[history][:, items].toarray()
        else:
            block = self.similarity_[np.ix_(history, items)]
        contribution = block * weights.data[:, None]
        best = contribution.argmax(axis=0)
        positive = contribution[best, np.arange(len(items))] > 0
        return np.where(positive, history[best], -1).astype(np.int64)
