"""The like model: probability that a viewer rates a movie 4 or more (the seed's task).

The seed design trained LightGBM on "rating >= 4" and reported its AUC. Here that
classifier is part of every model run: :func:`~recommender.engine.training.fit_ranker`
trains it on the same folds as the ranker (features from each fold's fit part, labels
from the ratings the fold held out), so every training row is described only by what was
known before it, exactly as a new pair is at serving time. Its features are collaborative
rating predictions (a biased explicit matrix factorisation and an adjusted-cosine item-kNN
weighted average) next to user, item and genre statistics.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet
from recommender.engine.data import HistoryMatrices
from recommender.engine.features import CATEGORICAL_FEATURES, FeatureBuilder
from recommender.engine.ranking import LightGBMRanker, RankerConfig
from recommender.engine.recall.als import ridge_rows
from recommender.engine.recall.base import binarize
from recommender.engine.recall.blocks import block_rows, blockwise_top_k
from recommender.engine.recall.sequence import time_ordered

logger = logging.getLogger(__name__)

#: Besides the ranker's user, item and pair features (:class:`FeatureBuilder`).
COLLABORATIVE_FEATURES = (
    "mf_prediction",
    "mf_user_bias",
    "mf_item_bias",
    "knn_prediction",
    "knn_support",
    "genre_affinity",
    "user_recent_offset",
)
LIKE_FEATURES = (*FeatureBuilder().feature_names, *COLLABORATIVE_FEATURES)
#: Binary LightGBM; the tree count is early-stopped on a slice of the fold rows.
LIKE_CLASSIFIER = RankerConfig(
    objective="binary", num_leaves=31, min_data_in_leaf=100, learning_rate=0.1, n_estimators=400
)


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


@dataclass(frozen=True)
class LikeContext:
    """The collaborative models that describe pairs from one set of known ratings.

    Attributes
    ----------
    mf : BiasedMF
    similarity : scipy.sparse.csr_matrix, shape (n_items, n_items)
        Adjusted-cosine neighbours of the kNN rating prediction.
    """

    mf: BiasedMF
    similarity: sp.csr_matrix

    @classmethod
    def fit(cls, ratings: sp.csr_matrix, knn_k: int = 50, shrinkage: float = 10.0) -> LikeContext:
        """Fit both models on known ratings, shape (n_users, n_items)."""
        return cls(BiasedMF().fit(ratings), adjusted_cosine(ratings, knn_k, shrinkage))

    def describe(
        self,
        features: FeatureBuilder,
        history: HistoryMatrices,
        user_ids: np.ndarray,
        rows: np.ndarray,
        items: np.ndarray,
    ) -> np.ndarray:
        """Feature matrix of (history row, item index) pairs.

        Parameters
        ----------
        features : FeatureBuilder
            Fitted on the same ratings as this context.
        history : HistoryMatrices
            Known ratings, shape (n_rows, n_items).
        user_ids : numpy.ndarray of int, shape (n_rows,)
            External id of each history row (demographics).
        rows, items : numpy.ndarray of int, shape (n_pairs,)

        Returns
        -------
        numpy.ndarray of float32, shape (n_pairs, len(LIKE_FEATURES))
        """
        empty = np.zeros((len(rows), 0))
        pairs = CandidateSet(rows, items, empty, empty, empty, ())
        base = features.build(pairs, history, user_ids, self.similarity)
        mf_prediction, user_bias = self.mf.predict(history.ratings, rows, items)
        knn_prediction, knn_support = knn_predict(history, self.similarity, rows, items)
        columns = [
            base,
            mf_prediction,
            user_bias,
            self.mf.item_bias_[items],
            knn_prediction,
            knn_support,
            genre_affinity(history, features.item_genres_, rows, items),
            recent_offset(history)[rows],
        ]
        return np.column_stack(columns).astype(np.float32)


def fit_classifier(
    features: np.ndarray, liked: np.ndarray, validation_share: float, seed: int, threads: int
) -> LightGBMRanker:
    """The binary classifier of ``liked``, early-stopped on a random slice of the rows."""
    rng = np.random.default_rng(seed)
    is_valid = rng.random(len(liked)) < validation_share
    labels = liked.astype(np.float32)
    config = replace(LIKE_CLASSIFIER, seed=seed, num_threads=threads)
    classifier = LightGBMRanker(config).fit(
        features[~is_valid],
        labels[~is_valid],
        None,
        (features[is_valid], labels[is_valid], None),
        LIKE_FEATURES,
        CATEGORICAL_FEATURES,
    )
    logger.info("like model: %d rows, %d trees", len(liked), classifier.booster_.best_iteration)
    return classifier


@dataclass(frozen=True)
class LikeModel:
    """The fitted like model: collaborative context plus the binary classifier.

    Attributes
    ----------
    context : LikeContext
        Fitted on the same ratings as the model's feature builder.
    classifier : LightGBMRanker
        Binary objective over :data:`LIKE_FEATURES`.
    """

    context: LikeContext
    classifier: LightGBMRanker

    def predict(
        self,
        features: FeatureBuilder,
        history: HistoryMatrices,
        user_ids: np.ndarray,
        rows: np.ndarray,
        items: np.ndarray,
    ) -> np.ndarray:
        """P(rating >= :data:`LIKED_RATING`) of pairs, shape (n_pairs,); see :meth:`describe`."""
        matrix = self.context.describe(features, history, user_ids, rows, items)
        return self.classifier.predict(matrix)

    def get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays (the classifier is stored as text, see :meth:`classifier_text`)."""
        similarity = self.context.similarity
        return {
            "mf_mean": np.array(self.context.mf.mean_),
            "mf_item_design": self.context.mf.item_design_,
            "mf_item_bias": self.context.mf.item_bias_,
            "similarity_data": similarity.data,
            "similarity_indices": similarity.indices,
            "similarity_indptr": similarity.indptr,
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], classifier: str) -> LikeModel:
        """Rebuild from :meth:`get_state` arrays and the classifier's text model."""
        mf = BiasedMF(factors=state["mf_item_design"].shape[1] - 1)
        mf.mean_ = float(state["mf_mean"])
        mf.item_design_ = state["mf_item_design"]
        mf.item_bias_ = state["mf_item_bias"]
        n_items = len(mf.item_bias_)
        similarity = sp.csr_matrix(
            (state["similarity_data"], state["similarity_indices"], state["similarity_indptr"]),
            shape=(n_items, n_items),
        )
        booster = LightGBMRanker.from_string(classifier, asdict(LIKE_CLASSIFIER))
        return cls(LikeContext(mf, similarity), booster)
