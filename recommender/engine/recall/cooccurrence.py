"""Item-to-item co-occurrence (the seed project's baseline), normalised."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_positive_int,
    binarize,
)
from recommender.engine.recall.selection import prune_top_k

NORMALISATIONS = ("count", "jaccard", "cosine", "lift")


def cooccurrence_counts(interactions: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Item x item co-occurrence counts with a zero diagonal.

    Parameters
    ----------
    interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)

    Returns
    -------
    counts : scipy.sparse.csr_matrix, shape (n_items, n_items)
        Number of users who interacted with both items.
    support : numpy.ndarray, shape (n_items,)
        Number of users per item.
    """
    binary = binarize(interactions)
    counts = sp.csr_matrix(binary.T @ binary)
    counts.setdiag(0)
    counts.eliminate_zeros()
    support = np.asarray(binary.sum(axis=0)).ravel()
    return counts, support


class CooccurrenceSource(ItemSimilaritySource):
    """Score = sum over history items of their normalised co-occurrence.

    Parameters
    ----------
    normalization : {"jaccard", "cosine", "lift", "count"}
        ``jaccard`` = c_ij / (n_i + n_j - c_ij) (as in SAR), ``cosine`` =
        c_ij / sqrt(n_i n_j), ``lift`` = c_ij / (n_i n_j), ``count`` = raw c_ij.
    k : int, optional
        Neighbors kept per item; ``None`` keeps all.
    """

    name: ClassVar[str] = "cooccurrence"

    def __init__(self, normalization: str = "jaccard", k: int | None = None) -> None:
        if normalization not in NORMALISATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALISATIONS}, got {normalization!r}"
            )
        if k is not None:
            _check_positive_int("k", k)
        super().__init__(normalization=normalization, k=k)
        self.normalization = normalization
        self.k = k

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Count co-occurrences, normalise and prune.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        counts, support = cooccurrence_counts(interactions)
        coo = counts.tocoo()
        n_i, n_j = support[coo.row], support[coo.col]
        if self.normalization == "jaccard":
            values = coo.data / (n_i + n_j - coo.data)
        elif self.normalization == "cosine":
            values = coo.data / np.sqrt(n_i * n_j)
        elif self.normalization == "lift":
            values = coo.data / (n_i * n_j)
        else:
            values = coo.data.astype(np.float64)
        similarity = sp.csr_matrix((values, (coo.row, coo.col)), shape=counts.shape)
        if self.k is not None:
            similarity = prune_top_k(similarity, self.k)
        self._set_similarity(similarity, int(interactions.shape[1]))
        return self
