"""RP3beta (Paudel et al., 2017): popularity-penalised 3-step random walk."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_non_negative,
    _check_positive_int,
    binarize,
)
from recommender.engine.recall.blocks import blockwise_top_k


def _row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    totals[totals == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / totals) @ matrix)


class RP3betaSource(ItemSimilaritySource):
    """``W = (P_iu^alpha @ P_ui^alpha) / pop_j^beta``, pruned to ``k`` per item.

    Parameters
    ----------
    alpha : float
        Exponent on the transition probabilities (>= 0).
    beta : float
        Popularity penalty exponent (>= 0); 0 gives plain P3alpha.
    k : int
        Neighbors kept per item.
    """

    name: ClassVar[str] = "rp3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, k: int = 100) -> None:
        _check_non_negative("alpha", alpha)
        _check_non_negative("beta", beta)
        _check_positive_int("k", k)
        super().__init__(alpha=alpha, beta=beta, k=k)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Build the item transition matrix.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        binary = binarize(interactions)
        user_to_item = _row_normalise(binary)
        item_to_user = _row_normalise(sp.csr_matrix(binary.T))
        user_to_item.data **= self.alpha
        item_to_user.data **= self.alpha
        popularity = np.asarray(binary.sum(axis=0)).ravel()
        penalty = np.zeros_like(popularity)
        np.power(popularity, -self.beta, out=penalty, where=popularity > 0)
        # Item rows of the walk a block at a time, each pruned (the walk is nearly dense).
        to_item = sp.csr_matrix(user_to_item @ sp.diags(penalty))
        walk = blockwise_top_k(item_to_user, to_item, self.k)
        self._set_similarity(walk, int(interactions.shape[1]))
        return self
