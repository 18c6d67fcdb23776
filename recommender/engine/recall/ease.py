"""EASE^R (Steck, 2019): closed-form shallow linear autoencoder."""

from __future__ import annotations

import logging
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_non_negative,
    _check_positive_int,
    binarize,
)

logger = logging.getLogger(__name__)


class EASESource(ItemSimilaritySource):
    """EASE: ``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + l2 I)^-1``.

    Needs a dense ``n_items x n_items`` inverse, so it refuses catalogues larger
    than ``max_items`` (use :class:`~recommender.engine.recall.itemknn.ItemKNNSource`).

    Parameters
    ----------
    l2 : float
        L2 regularisation (> 0); 300-500 suits MovieLens-100k.
    max_items : int
        Largest catalogue for which the dense inverse is attempted.
    """

    name: ClassVar[str] = "ease"

    def __init__(self, l2: float = 400.0, max_items: int = 20_000) -> None:
        _check_non_negative("l2", l2)
        if l2 == 0:
            raise ValueError("l2 must be > 0: X^T X alone is usually singular")
        _check_positive_int("max_items", max_items)
        super().__init__(l2=l2, max_items=max_items)
        self.l2 = l2
        self.max_items = max_items

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Solve for the item-item weight matrix.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        n_items = int(interactions.shape[1])
        if n_items > self.max_items:
            raise ValueError(
                f"EASE needs a dense {n_items}x{n_items} inverse, above max_items="
                f"{self.max_items}; use ItemKNNSource for large catalogues"
            )
        binary = binarize(interactions)
        gram = (binary.T @ binary).toarray()
        gram[np.diag_indices(n_items)] += self.l2
        precision = np.linalg.inv(gram)
        weights = precision / -np.diag(precision)
        weights[np.diag_indices(n_items)] = 0.0
        # float32 halves the artifact size; scores only need ~7 significant digits.
        self._set_similarity(weights.astype(np.float32), n_items)
        return self
