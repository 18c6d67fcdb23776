"""Rating classification on random rows: P(rating >= threshold) for (user, item) pairs.

The seed project's task ("will the user like this movie?") as an engine-only
experiment. The product trains the same features (:mod:`recommender.engine.liking`)
on its ranker folds; this variant describes every training rating instead:
to avoid leakage the classifier's own training rows get *out-of-fold* features:
the training ratings are split into folds and each fold's rows are described by
models fitted on the other folds only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd

from recommender.engine.data import (
    IdIndex,
    InteractionData,
    build_histories,
    catalogue_index,
    deduplicate_ratings,
)
from recommender.engine.features import CATEGORICAL_FEATURES, FeatureBuilder
from recommender.engine.liking import LIKE_FEATURES, LikeContext
from recommender.engine.ranking import LightGBMRanker, RankerConfig
from recommender.engine.rating_predictors import BiasedMF, adjusted_cosine
from recommender.engine.vocabulary import build_vocabulary

logger = logging.getLogger(__name__)


@dataclass
class _Context:
    """Models describing pairs from one set of known ratings."""

    like: LikeContext
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
        return list(LIKE_FEATURES)

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
        like = LikeContext(
            BiasedMF(**self.mf_params).fit(history.ratings),
            adjusted_cosine(history.ratings, self.knn_k, self.knn_shrinkage),
        )
        return _Context(like=like, features=features)

    def _describe(self, context: _Context, known: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
        users = IdIndex(pairs["user_id"])
        history = build_histories(known, users, self.item_index_)
        rows = users.index_of(pairs["user_id"].to_numpy())
        items = self.item_index_.index_of(pairs["item_id"].to_numpy())
        if (items < 0).any():
            raise ValueError("pairs contain items unknown to the classifier")
        return context.like.describe(context.features, history, users.ids, rows, items)
