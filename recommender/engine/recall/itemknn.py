"""Item-kNN: shrunk cosine similarity pruned to the top-k neighbors per item."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_non_negative,
    _check_positive_int,
)
from recommender.engine.recall.cooccurrence import cooccurrence_similarity


class ItemKNNSource(ItemSimilaritySource):
    """Cosine item-kNN with shrinkage.

    ``s_ij = c_ij / (sqrt(n_i n_j) + shrinkage)`` where ``c_ij`` counts users
    with both items; shrinkage damps similarities supported by few users.

    Parameters
    ----------
    k : int
        Neighbors kept per item (sparse storage, O(n_items * k)).
    shrinkage : float
        Additive shrinkage of the cosine denominator, >= 0.
    """

    name: ClassVar[str] = "itemknn"

    def __init__(self, k: int = 100, shrinkage: float = 10.0) -> None:
        _check_positive_int("k", k)
        _check_non_negative("shrinkage", shrinkage)
        super().__init__(k=k, shrinkage=shrinkage)
        self.k = k
        self.shrinkage = shrinkage

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Compute and prune the similarity matrix.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        shrinkage = self.shrinkage
        similarity = cooccurrence_similarity(
            interactions, self.k, lambda c, n_i, n_j: c / (np.sqrt(n_i * n_j) + shrinkage)
        )
        self._set_similarity(similarity, int(interactions.shape[1]))
        return self
