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

from recommender.engine.recall.selection import top_n

logger = logging.getLogger(__name__)

State = dict[str, np.ndarray]


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
        """Top-``n`` neighbors of one item (never the item itself), each (n,)."""
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
        """Top-``n`` neighbors of one item, excluding the item itself.

        Returns
        -------
        ids : numpy.ndarray of int64, shape (n,)
        scores : numpy.ndarray of float64, shape (n,)
        """
        ids, scores = self.neighbor_table(n, np.array([item_index]))
        return ids[0], scores[0]

    def neighbor_table(
        self, n: int, item_indices: np.ndarray | None = None, batch_size: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pruned top-``n`` neighbor table (what Django stores as ``ItemNeighbor``).

        Only positive-similarity neighbors are returned; the full item x item
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
            ids, scores = self._top_neighbors(item_indices[start : start + batch_size], n)
            ids_parts.append(ids)
            score_parts.append(scores)
        return np.concatenate(ids_parts), np.concatenate(score_parts)

    def _top_neighbors(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`neighbor_table` of a batch of items, from their dense similarity rows."""
        rows = np.array(self._similarity_rows(items), dtype=np.float64)
        rows[np.arange(items.size), items] = -np.inf
        rows[rows <= 0] = -np.inf
        return top_n(rows, n)

    def fit_summary(self) -> dict[str, Any]:
        """How the last fit adapted to the data's size (empty: it did not)."""
        return {}

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

    def _top_neighbors(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The same table as the dense selection, read off the pruned rows' stored entries.

        A pruned row holds at most its source's ``k`` entries; densifying it to the whole
        catalogue (59,047 columns at ml-25m shape) made publishing the tables cost minutes.
        """
        if not sp.issparse(self.similarity_):
            return super()._top_neighbors(items, n)
        rows = sp.csr_matrix(self.similarity_[items])
        rows.sum_duplicates()
        owner = np.repeat(np.arange(items.size), np.diff(rows.indptr))
        values = rows.data.astype(np.float64)
        keep = (values > 0) & (rows.indices != items[owner])
        owner, columns, values = owner[keep], rows.indices[keep].astype(np.int64), values[keep]
        # Best first within each row; ties to the lower column, as top_n breaks them.
        order = np.lexsort((columns, -values, owner))
        owner, columns, values = owner[order], columns[order], values[order]
        starts = np.searchsorted(owner, np.arange(items.size))
        rank = np.arange(owner.size) - starts[owner]
        chosen = rank < n
        ids = np.full((items.size, n), -1, dtype=np.int64)
        scores = np.full((items.size, n), -np.inf)
        ids[owner[chosen], rank[chosen]] = columns[chosen]
        scores[owner[chosen], rank[chosen]] = values[chosen]
        return ids, scores

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
