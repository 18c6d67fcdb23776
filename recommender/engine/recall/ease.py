"""EASE^R (Steck, 2019): closed-form shallow linear autoencoder."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_non_negative,
    _check_positive_int,
    binarize,
)
from recommender.engine.recall.blocks import dense_gram
from recommender.engine.recall.selection import prune_top_k

logger = logging.getLogger(__name__)


class EASESource(ItemSimilaritySource):
    """EASE: ``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + l2 I)^-1``.

    The inverse is dense, ``n_items x n_items``: up to ``max_items`` movies EASE is
    solved on the whole catalogue and kept dense. Above, it is solved on the
    ``max_items`` most-rated movies only (where nearly all the co-occurrence is) and
    each row keeps its ``k`` largest weights, sparse; the other movies get no EASE
    score (the other sources still nominate them). :meth:`fit_summary` says which.

    Parameters
    ----------
    l2 : float
        L2 regularisation (> 0); 300-500 suits MovieLens-100k.
    max_items : int
        Largest catalogue solved whole; the size of the popular subset above it.
    k : int
        Weights kept per movie when the catalogue is above ``max_items``.
    """

    name: ClassVar[str] = "ease"

    def __init__(self, l2: float = 400.0, max_items: int = 12_000, k: int = 200) -> None:
        _check_non_negative("l2", l2)
        if l2 == 0:
            raise ValueError("l2 must be > 0: X^T X alone is usually singular")
        _check_positive_int("max_items", max_items)
        _check_positive_int("k", k)
        super().__init__(l2=l2, max_items=max_items, k=k)
        self.l2 = l2
        self.max_items = max_items
        self.k = k

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Solve for the item-item weight matrix.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        n_items = int(interactions.shape[1])
        binary = binarize(interactions)
        if n_items <= self.max_items:
            # float32 halves the artifact size; scores only need ~7 significant digits.
            self._set_similarity(self._weights(binary).astype(np.float32), n_items)
            return self
        popularity = np.asarray(binary.sum(axis=0)).ravel()
        # Most-rated first, ties to the lower index; kept in index order.
        subset = np.sort(np.lexsort((np.arange(n_items), -popularity))[: self.max_items])
        weights = prune_top_k(sp.csr_matrix(self._weights(binary[:, subset])), self.k).tocoo()
        similarity = sp.csr_matrix(
            (weights.data.astype(np.float32), (subset[weights.row], subset[weights.col])),
            shape=(n_items, n_items),
        )
        logger.info("ease: %d of %d items (most rated), top %d", subset.size, n_items, self.k)
        self._set_similarity(similarity, n_items)
        return self

    def _weights(self, binary: sp.csr_matrix) -> np.ndarray:
        """Dense EASE weights of the columns of ``binary``, zero diagonal."""
        n_items = binary.shape[1]
        gram = dense_gram(binary)
        gram[np.diag_indices(n_items)] += self.l2
        weights = np.linalg.inv(gram)
        del gram
        weights /= -np.diag(weights).copy()
        weights[np.diag_indices(n_items)] = 0.0
        return weights

    def fit_summary(self) -> dict[str, Any]:
        """How the fit scaled: the whole catalogue, or the most-rated subset and ``k``."""
        n_items = self._check_fitted()
        if n_items <= self.max_items:
            return {"mode": "full", "items": n_items}
        return {
            "mode": "most_rated_subset",
            "items": self.max_items,
            "catalogue": n_items,
            "k": self.k,
        }
