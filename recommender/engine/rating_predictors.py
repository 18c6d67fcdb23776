"""Collaborative rating predictions that describe (viewer, movie) pairs to the like model.

A biased explicit matrix factorisation, an adjusted-cosine item-kNN weighted average and
the viewer's genre and recency offsets: each is fitted on (or computed from) known ratings
only, so :mod:`recommender.engine.liking` can describe a held-out pair from what was known
before it.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.data import HistoryMatrices
from recommender.engine.recall.als import ridge_rows
from recommender.engine.recall.base import binarize
from recommender.engine.recall.blocks import block_rows, blockwise_top_k
from recommender.engine.recall.sequence import time_ordered


def _centred(ratings: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Ratings minus each row's mean (stored entries only) and the row means."""
    counts = np.diff(ratings.indptr)
    sums = np.asarray(ratings.sum(axis=1)).ravel()
    means = np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)
    centred = sp.csr_matrix(ratings, dtype=np.float64, copy=True)
    centred.data -= np.repeat(np.nan_to_num(means), counts)
    return centred, means


class BiasedMF:
    """Explicit ``r_ui ~ mu + b_u + b_i + p_u . q_i`` fitted by alternating ridge solves.

    Parameters
    ----------
    factors : int
    regularization : float
        L2 penalty on factors and biases.
    iterations : int
    seed : int
    """

    def __init__(
        self, factors: int = 8, regularization: float = 10.0, iterations: int = 10, seed: int = 0
    ) -> None:
        if factors < 1 or regularization <= 0 or iterations < 1:
            raise ValueError("factors >= 1, regularization > 0 and iterations >= 1 required")
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed
        self.mean_: float | None = None
        self.item_design_: np.ndarray | None = None
        self.item_bias_: np.ndarray | None = None

    def _solve(self, residuals: sp.csr_matrix, design: np.ndarray) -> np.ndarray:
        base = self.regularization * np.eye(design.shape[1])
        return ridge_rows(residuals, design, base, 1.0)

    def _residuals(self, ratings: sp.csr_matrix, offsets: np.ndarray) -> sp.csr_matrix:
        residuals = sp.csr_matrix(ratings, dtype=np.float64, copy=True)
        residuals.data -= self.mean_ + offsets[residuals.indices]
        return residuals

    def fit(self, ratings: sp.csr_matrix) -> Self:
        """Fit on a user x item rating matrix, shape (n_users, n_items)."""
        ratings = sp.csr_matrix(ratings)
        by_item = sp.csr_matrix(ratings.T)
        self.mean_ = float(ratings.data.mean()) if ratings.nnz else 0.0
        rng = np.random.default_rng(self.seed)
        # The constant column carries the bias of the other side.
        item_design = np.column_stack(
            [
                rng.normal(scale=0.1, size=(ratings.shape[1], self.factors)),
                np.ones(ratings.shape[1]),
            ]
        )
        item_bias = np.zeros(ratings.shape[1])
        for _ in range(self.iterations):
            users = self._solve(self._residuals(ratings, item_bias), item_design)
            user_design = np.column_stack([users[:, :-1], np.ones(len(users))])
            items = self._solve(self._residuals(by_item, users[:, -1]), user_design)
            item_design = np.column_stack([items[:, :-1], np.ones(len(items))])
            item_bias = items[:, -1]
        self.item_design_ = item_design
        self.item_bias_ = item_bias
        return self

    def predict(
        self, history: sp.csr_matrix, rows: np.ndarray, items: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fold the history rows in and predict ratings of (row, item) pairs.

        Parameters
        ----------
        history : scipy.sparse.csr_matrix, shape (n_rows, n_items)
            Known ratings of each row's user.
        rows, items : numpy.ndarray of int, shape (n_pairs,)

        Returns
        -------
        prediction : numpy.ndarray, shape (n_pairs,)
        user_bias : numpy.ndarray, shape (n_pairs,)
        """
        if self.item_design_ is None:
            raise RuntimeError("BiasedMF is not fitted; call fit() first")
        users = self._solve(self._residuals(history, self.item_bias_), self.item_design_)
        factors = (users[rows, :-1] * self.item_design_[items, :-1]).sum(axis=1)
        user_bias = users[rows, -1]
        return self.mean_ + user_bias + self.item_bias_[items] + factors, user_bias


def adjusted_cosine(ratings: sp.csr_matrix, k: int, shrinkage: float) -> sp.csr_matrix:
    """Item-item cosine of user-mean-centred ratings, positive part, top-``k`` per row.

    Parameters
    ----------
    ratings : scipy.sparse.csr_matrix, shape (n_users, n_items)

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_items, n_items)
    """
    centred, _ = _centred(ratings)
    by_item = sp.csr_matrix(centred.T)
    norms = np.sqrt(np.asarray(by_item.multiply(by_item).sum(axis=1)).ravel())

    def weigh(block: sp.csr_matrix, first_row: int) -> sp.csr_matrix:
        rows = block_rows(block) + first_row
        block.data = block.data / (norms[rows] * norms[block.indices] + shrinkage)
        block.data[block.data < 0] = 0.0  # the positive part
        return block

    # A block of item rows at a time: the whole product is nearly dense at scale.
    return blockwise_top_k(by_item, centred, k, weigh)


def knn_predict(
    history: HistoryMatrices, similarity: sp.csr_matrix, rows: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """User mean + similarity-weighted centred ratings of the item's neighbors."""
    centred, means = _centred(history.ratings)
    numerator = np.asarray((centred @ similarity)[rows, items]).ravel()
    support = np.asarray((binarize(history.ratings) @ similarity)[rows, items]).ravel()
    offset = np.divide(numerator, support, out=np.zeros_like(numerator), where=support > 0)
    return means[rows] + offset, support


def genre_affinity(
    history: HistoryMatrices, genres: np.ndarray, rows: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """Mean over the item's genres of the user's centred rating of that genre."""
    centred, _ = _centred(history.ratings)
    totals = centred @ genres
    counts = binarize(history.ratings) @ genres
    per_genre = np.divide(totals, counts, out=np.zeros_like(totals), where=counts > 0)
    item_genres = genres[items]
    n_genres = item_genres.sum(axis=1)
    score = (per_genre[rows] * item_genres).sum(axis=1)
    return np.divide(score, n_genres, out=np.zeros_like(score), where=n_genres > 0)


def recent_offset(history: HistoryMatrices, n_recent: int = 10) -> np.ndarray:
    """Mean of each row's latest ``n_recent`` ratings minus its mean rating (0 if empty).

    A viewer's taste (or leniency) drifts: the next ratings resemble the latest more
    than the whole history.
    """
    rows, items, from_end = time_ordered(history.timestamps)
    latest = from_end < n_recent
    values = np.asarray(history.ratings[rows[latest], items[latest]]).ravel()
    n_rows = history.n_users
    counts = np.bincount(rows[latest], minlength=n_rows)
    recent = np.bincount(rows[latest], weights=values, minlength=n_rows)
    _, means = _centred(history.ratings)
    offset = np.divide(recent, counts, out=np.zeros(n_rows), where=counts > 0) - means
    return np.nan_to_num(offset)
