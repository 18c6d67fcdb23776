"""Rating classification: P(rating >= threshold) for given (user, item) pairs.

This is the seed project's task ("will the user like this movie?").  Beyond
user/item statistics it uses collaborative rating predictions: a biased
explicit matrix factorisation and an adjusted-cosine item-kNN weighted average.
To avoid leakage the classifier's own training rows get *out-of-fold* features:
the training ratings are split into folds and each fold's rows are described by
models fitted on the other folds only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet
from recommender.engine.data import (
    HistoryMatrices,
    IdIndex,
    InteractionData,
    build_histories,
    catalogue_index,
    deduplicate_ratings,
)
from recommender.engine.features import CATEGORICAL_FEATURES, FeatureBuilder
from recommender.engine.ranking import LightGBMRanker, RankerConfig
from recommender.engine.recall.als import ridge_rows
from recommender.engine.recall.base import binarize
from recommender.engine.recall.selection import prune_top_k
from recommender.engine.vocabulary import build_vocabulary

logger = logging.getLogger(__name__)

COLLABORATIVE_FEATURES = (
    "mf_prediction",
    "mf_user_bias",
    "mf_item_bias",
    "knn_prediction",
    "knn_support",
    "genre_affinity",
)


def _centred(ratings: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Ratings minus each row's mean (stored entries only) and the row means."""
    counts = np.diff(ratings.indptr)
    sums = np.asarray(ratings.sum(axis=1)).ravel()
    means = np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)
    centred = sp.csr_matrix(ratings, copy=True)
    centred.data -= np.repeat(np.nan_to_num(means), counts)
    return centred, means


class BiasedMF:
    """Explicit ``r_ui ~ mu + b_u + b_i + p_u . q_i`` fitted by ALS.

    Parameters
    ----------
    factors : int
    regularization : float
        L2 penalty on factors and biases.
    iterations : int
    seed : int
    """

    def __init__(
        self, factors: int = 16, regularization: float = 10.0, iterations: int = 10, seed: int = 0
    ) -> None:
        if factors < 1 or regularization <= 0 or iterations < 1:
            raise ValueError("factors >= 1, regularization > 0 and iterations >= 1 required")
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed
        self.mean_: float | None = None
        self.item_design_: np.ndarray | None = None

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
        self.mean_ = float(ratings.data.mean())
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
    dot = sp.csr_matrix(centred.T @ centred)
    norms = np.sqrt(np.maximum(dot.diagonal(), 0.0))
    dot.setdiag(0)
    coo = dot.tocoo()
    values = coo.data / (norms[coo.row] * norms[coo.col] + shrinkage)
    positive = values > 0
    similarity = sp.csr_matrix(
        (values[positive], (coo.row[positive], coo.col[positive])), shape=dot.shape
    )
    return prune_top_k(similarity, k)


@dataclass
class _Context:
    """Models describing pairs from one set of known ratings."""

    mf: BiasedMF
    similarity: sp.csr_matrix
    features: FeatureBuilder


class RatingClassifier:
    """LightGBM binary classifier of ``rating >= threshold``.

    Parameters
    ----------
    threshold : float
    n_folds : int
        Folds of the out-of-fold training features (>= 2).
    mf_params : dict, optional
        Keyword arguments of :class:`BiasedMF`.
    knn_k, knn_shrinkage : int, float
        Item-kNN neighborhood size and shrinkage.
    ranker : RankerConfig, optional
        Must use ``objective="binary"``.
    validation_share : float
        Share of out-of-fold rows used for early stopping.
    seed : int
    """

    def __init__(
        self,
        threshold: float = 4.0,
        n_folds: int = 4,
        mf_params: dict | None = None,
        knn_k: int = 50,
        knn_shrinkage: float = 10.0,
        ranker: RankerConfig | None = None,
        validation_share: float = 0.1,
        seed: int = 0,
    ) -> None:
        ranker = ranker or RankerConfig(
            objective="binary", num_leaves=31, min_data_in_leaf=100, n_estimators=1000
        )
        if ranker.objective != "binary":
            raise ValueError("RatingClassifier needs a RankerConfig with objective='binary'")
        if n_folds < 2 or not 0 < validation_share < 1:
            raise ValueError("n_folds >= 2 and 0 < validation_share < 1 required")
        self.threshold = threshold
        self.n_folds = n_folds
        self.mf_params = mf_params or {}
        self.knn_k = knn_k
        self.knn_shrinkage = knn_shrinkage
        self.ranker_config = ranker
        self.validation_share = validation_share
        self.seed = seed
        self.model_: LightGBMRanker | None = None
        self.context_: _Context | None = None
        self.known_: InteractionData | None = None

    @property
    def feature_names(self) -> list[str]:
        """Columns of the classifier's feature matrix."""
        return [*FeatureBuilder().feature_names, *COLLABORATIVE_FEATURES]

    def fit(self, data: InteractionData) -> Self:
        """Fit on the training ratings (labels ``rating >= threshold``)."""
        ratings = deduplicate_ratings(data.ratings).reset_index(drop=True)
        self.item_index_ = catalogue_index(data)
        self.vocabulary_ = build_vocabulary(data.items_or_empty, data.users_or_empty)
        rng = np.random.default_rng(self.seed)
        fold = rng.integers(self.n_folds, size=len(ratings))
        parts = []
        for k in range(self.n_folds):
            known, target = ratings[fold != k], ratings[fold == k]
            context = self._fit_context(data.with_ratings(known))
            parts.append((self._describe(context, known, target), target))
        features = np.concatenate([matrix for matrix, _ in parts])
        labels = np.concatenate([(t["rating"] >= self.threshold).to_numpy() for _, t in parts])
        is_valid = rng.random(len(labels)) < self.validation_share
        self.model_ = LightGBMRanker(self.ranker_config).fit(
            features[~is_valid],
            labels[~is_valid].astype(np.float32),
            None,
            (features[is_valid], labels[is_valid].astype(np.float32), None),
            self.feature_names,
            CATEGORICAL_FEATURES,
        )
        self.known_ = data.with_ratings(ratings)
        self.context_ = self._fit_context(self.known_)
        return self

    def predict_proba(self, pairs: pd.DataFrame) -> np.ndarray:
        """Probability that each ``(user_id, item_id)`` pair is rated >= threshold.

        Features come from the ratings given to :meth:`fit` (the pair itself
        should not be among them).

        Parameters
        ----------
        pairs : pandas.DataFrame
            Columns ``user_id`` and ``item_id``, shape (n, 2+).

        Returns
        -------
        numpy.ndarray, shape (n,)
        """
        if self.model_ is None:
            raise RuntimeError("RatingClassifier is not fitted; call fit() first")
        matrix = self._describe(self.context_, self.known_.ratings, pairs)
        return self.model_.predict(matrix)

    def _fit_context(self, data: InteractionData) -> _Context:
        users = IdIndex(data.ratings["user_id"])
        history = build_histories(data.ratings, users, self.item_index_)
        features = FeatureBuilder().fit(
            history, data.items_or_empty, data.users_or_empty, self.item_index_, self.vocabulary_
        )
        return _Context(
            mf=BiasedMF(**self.mf_params).fit(history.ratings),
            similarity=adjusted_cosine(history.ratings, self.knn_k, self.knn_shrinkage),
            features=features,
        )

    def _describe(self, context: _Context, known: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
        users = IdIndex(pairs["user_id"])
        history = build_histories(known, users, self.item_index_)
        rows = users.index_of(pairs["user_id"].to_numpy())
        items = self.item_index_.index_of(pairs["item_id"].to_numpy())
        if (items < 0).any():
            raise ValueError("pairs contain items unknown to the classifier")
        empty = np.zeros((len(rows), 0))
        candidates = CandidateSet(rows, items, empty, empty, empty, ())
        base = context.features.build(candidates, history, users.ids, context.similarity)
        mf_prediction, user_bias = context.mf.predict(history.ratings, rows, items)
        knn_prediction, knn_support = _knn_predict(history, context.similarity, rows, items)
        affinity = _genre_affinity(history, context.features.item_genres_, rows, items)
        collaborative = np.column_stack(
            [
                mf_prediction,
                user_bias,
                context.mf.item_bias_[items],
                knn_prediction,
                knn_support,
                affinity,
            ]
        )
        return np.column_stack([base, collaborative]).astype(np.float32)


def _knn_predict(
    history: HistoryMatrices, similarity: sp.csr_matrix, rows: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """User mean + similarity-weighted centred ratings of the item's neighbors."""
    centred, means = _centred(history.ratings)
    numerator = np.asarray((centred @ similarity)[rows, items]).ravel()
    support = np.asarray((binarize(history.ratings) @ similarity)[rows, items]).ravel()
    offset = np.divide(numerator, support, out=np.zeros_like(numerator), where=support > 0)
    return means[rows] + offset, support


def _genre_affinity(
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
