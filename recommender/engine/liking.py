"""The like model: probability that a viewer rates a movie 4 or more (the seed's task).

The seed design trained LightGBM on "rating >= 4" and reported its AUC. Here that
classifier is part of every model run: :func:`~recommender.engine.training.fit_ranker`
trains it on time folds (features from each fold's fit part, labels from the latest
ratings the fold held out: "will the viewer like what they rate next"), so every training
row is described only by what was known before it, exactly as a new pair is at serving
time. Trained on time folds only it scored a higher AUC on the time hold-outs of all three
MovieLens-100k training parts than on the ranker's mixed folds. Its features are collaborative
rating predictions (a biased explicit matrix factorisation and an adjusted-cosine item-kNN
weighted average) next to user, item and genre statistics.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet
from recommender.engine.data import HistoryMatrices
from recommender.engine.features import CATEGORICAL_FEATURES, FeatureBuilder
from recommender.engine.ranking import LightGBMRanker, RankerConfig
from recommender.engine.rating_predictors import (
    BiasedMF,
    adjusted_cosine,
    genre_affinity,
    knn_predict,
    recent_offset,
)

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


class LikePredictor(Protocol):
    """What the ranker's ``like_probability`` column asks of a like model."""

    def predict(
        self,
        features: FeatureBuilder,
        history: HistoryMatrices,
        user_ids: np.ndarray,
        rows: np.ndarray,
        items: np.ndarray,
    ) -> np.ndarray:
        """P(rating >= 4) of (history row, item index) pairs, shape (n_pairs,)."""


def viewer_half(user_ids: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random 0 / 1 per viewer id (the same id always gets the same half)."""
    mixed = (np.asarray(user_ids).astype(np.uint64) + np.uint64(seed)) * np.uint64(2654435761)
    return ((mixed >> np.uint64(15)) & np.uint64(1)).astype(np.int64)


@dataclass(frozen=True)
class CrossFittedLike:
    """Out-of-fold like probabilities of one ranker fold's candidates.

    Two classifiers, each trained on the fold's held-out pairs of one half of its
    viewers (:func:`viewer_half`); a viewer's candidates are scored by the other half's,
    so no ranker row sees a like model trained on its own viewer's labels.
    """

    context: LikeContext
    classifiers: tuple[LightGBMRanker, LightGBMRanker]
    seed: int

    @classmethod
    def fit(
        cls,
        context: LikeContext,
        pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
        validation_share: float,
        seed: int,
        threads: int,
    ) -> CrossFittedLike | None:
        """From a fold's ``(features, liked, user ids)`` pairs; ``None`` if a half is too small."""
        features, liked, users = pairs
        half = viewer_half(users, seed)
        classifiers = []
        for side in (0, 1):
            chosen = half == side
            if chosen.sum() < 100 or liked[chosen].all() or not liked[chosen].any():
                return None
            classifiers.append(
                fit_classifier(features[chosen], liked[chosen], validation_share, seed, threads)
            )
        return cls(context, (classifiers[0], classifiers[1]), seed)

    def predict(
        self,
        features: FeatureBuilder,
        history: HistoryMatrices,
        user_ids: np.ndarray,
        rows: np.ndarray,
        items: np.ndarray,
    ) -> np.ndarray:
        """P(rating >= 4) of pairs by the classifier of the viewer's other half."""
        matrix = self.context.describe(features, history, user_ids, rows, items)
        other = 1 - viewer_half(user_ids[rows], self.seed)
        probability = np.empty(len(rows))
        for side, classifier in enumerate(self.classifiers):
            if (other == side).any():
                probability[other == side] = classifier.predict(matrix[other == side])
        return probability


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
