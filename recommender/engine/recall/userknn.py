"""User-kNN: items of the most similar training users (cosine with shrinkage)."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    BaseRecallSource,
    _check_non_negative,
    _check_positive_int,
    binarize,
)
from recommender.engine.recall.selection import prune_top_k


class UserKNNSource(BaseRecallSource):
    """Score = sum of the ``k`` most similar training users' rows, weighted by similarity.

    The history row is compared with every training user at scoring time, so a
    changed or brand-new history is handled without refitting.

    Parameters
    ----------
    k : int
        Neighbors per scored row.
    shrinkage : float
        Additive shrinkage of the cosine denominator, >= 0.
    """

    name: ClassVar[str] = "userknn"
    _state_fields: ClassVar[tuple[str, ...]] = ("users_", "user_norms_")

    def __init__(self, k: int = 50, shrinkage: float = 10.0) -> None:
        _check_positive_int("k", k)
        _check_non_negative("shrinkage", shrinkage)
        super().__init__(k=k, shrinkage=shrinkage)
        self.k = k
        self.shrinkage = shrinkage
        self.users_: sp.csr_matrix | None = None
        self.user_norms_: np.ndarray | None = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Store the binarised training rows, shape (n_users, n_items)."""
        self.users_ = binarize(interactions)
        self.user_norms_ = np.sqrt(np.diff(self.users_.indptr).astype(np.float64))
        self.n_items_ = int(interactions.shape[1])
        return self

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense scores, shape (n_rows, n_items)."""
        rows = binarize(self._check_user_items(user_items))
        row_norms = np.sqrt(np.diff(rows.indptr).astype(np.float64))
        # users_ @ rows.T keeps the big stored matrix in CSR (no per-call transpose).
        overlap = sp.csr_matrix((self.users_ @ rows.T).T)
        coo = overlap.tocoo()
        denominator = row_norms[coo.row] * self.user_norms_[coo.col] + self.shrinkage
        similarity = sp.csr_matrix(
            (coo.data / denominator, (coo.row, coo.col)), shape=overlap.shape
        )
        return (prune_top_k(similarity, self.k) @ self.users_).toarray()

    def _similarity_rows(self, item_indices: np.ndarray) -> np.ndarray:
        # Item-item cosine over the stored users (no pruning; rows only on demand).
        columns = sp.csc_matrix(self.users_)
        counts = np.diff(columns.indptr).astype(np.float64)
        overlap = (columns[:, item_indices].T @ columns).toarray()
        norms = np.sqrt(np.outer(counts[item_indices], counts))
        return np.divide(overlap, norms, out=np.zeros_like(overlap), where=norms > 0)
