"""Item-to-item co-occurrence (the seed project's baseline), normalised."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    ItemSimilaritySource,
    _check_positive_int,
    binarize,
)
from recommender.engine.recall.blocks import block_rows, blockwise_top_k


def cooccurrence_similarity(
    interactions: sp.csr_matrix,
    k: int | None,
    normalise: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> sp.csr_matrix:
    """Item x item co-occurrence, normalised, zero diagonal, top-``k`` per row.

    Built a block of item rows at a time (:func:`~.blocks.blockwise_top_k`).

    Parameters
    ----------
    interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
    k : int or None
        Neighbors kept per item; ``None`` keeps all.
    normalise : callable
        ``normalise(counts, n_i, n_j)``: similarities from the number of users with
        both items and with each item, elementwise.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_items, n_items)
    """
    binary = binarize(interactions)
    support = np.asarray(binary.sum(axis=0)).ravel()

    def weigh(block: sp.csr_matrix, first_row: int) -> sp.csr_matrix:
        rows = block_rows(block) + first_row
        block.data = normalise(block.data, support[rows], support[block.indices])
        return block

    return blockwise_top_k(sp.csr_matrix(binary.T), binary, k, weigh)


_NORMALISERS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "jaccard": lambda c, n_i, n_j: c / (n_i + n_j - c),
    "cosine": lambda c, n_i, n_j: c / np.sqrt(n_i * n_j),
    "lift": lambda c, n_i, n_j: c / (n_i * n_j),
    "count": lambda c, n_i, n_j: c,
}


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
        if normalization not in _NORMALISERS:
            raise ValueError(
                f"normalization must be one of {tuple(_NORMALISERS)}, got {normalization!r}"
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
        similarity = cooccurrence_similarity(interactions, self.k, _NORMALISERS[self.normalization])
        self._set_similarity(similarity, int(interactions.shape[1]))
        return self
