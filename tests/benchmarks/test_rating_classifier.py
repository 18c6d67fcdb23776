"""Rating classifier and its collaborative building blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from rating_classifier import RatingClassifier

from recommender.engine.data import InteractionData
from recommender.engine.metrics import roc_auc
from recommender.engine.ranking import RankerConfig
from recommender.engine.rating_predictors import BiasedMF, adjusted_cosine
from recommender.engine.splits import random_split


def taste_ratings(n_users: int = 80, n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Users love items of their own parity (5) and dislike the others (2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for item in rng.choice(n_items, size=20, replace=False):
            liked = (user + item) % 2 == 0
            rating = 5.0 if liked else 2.0
            if rng.random() < 0.1:  # some noise
                rating = 7.0 - rating
            rows.append((user + 1, int(item) + 1, rating, 1_000_000 + len(rows)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_biased_mf_learns_taste_structure() -> None:
    ratings = taste_ratings()
    matrix = sp.csr_matrix(
        (ratings["rating"], (ratings["user_id"] - 1, ratings["item_id"] - 1)), shape=(80, 40)
    )
    model = BiasedMF(factors=2, regularization=1.0, iterations=10).fit(matrix)
    rows, items = np.nonzero(matrix.toarray())
    predictions, _ = model.predict(matrix, rows, items)
    liked = (rows + items) % 2 == 0
    assert predictions[liked].mean() > predictions[~liked].mean() + 1.5
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasedMF().predict(matrix, rows, items)


def test_adjusted_cosine_links_same_parity_items() -> None:
    ratings = taste_ratings()
    matrix = sp.csr_matrix(
        (ratings["rating"], (ratings["user_id"] - 1, ratings["item_id"] - 1)), shape=(80, 40)
    )
    similarity = adjusted_cosine(matrix, k=5, shrinkage=1.0).tocoo()
    assert similarity.nnz > 0 and np.all(similarity.data > 0)
    same_parity = (similarity.row % 2) == (similarity.col % 2)
    assert same_parity.mean() > 0.9
    assert np.diff(similarity.tocsr().indptr).max() <= 5


def test_classifier_separates_likes_on_held_out_pairs() -> None:
    ratings = taste_ratings()
    train, test = random_split(ratings, ratio=0.8, seed=1)
    classifier = RatingClassifier(
        n_folds=2,
        mf_params={"factors": 2, "regularization": 1.0},
        ranker=RankerConfig(objective="binary", num_leaves=4, min_data_in_leaf=10),
    ).fit(InteractionData(train))
    probabilities = classifier.predict_proba(test)
    assert probabilities.shape == (len(test),)
    assert roc_auc((test["rating"] >= 4).to_numpy(), probabilities) > 0.8
    with pytest.raises(ValueError, match="unknown"):
        classifier.predict_proba(pd.DataFrame({"user_id": [1], "item_id": [999]}))


def test_classifier_validation() -> None:
    with pytest.raises(ValueError, match="binary"):
        RatingClassifier(ranker=RankerConfig(objective="rank_xendcg"))
    with pytest.raises(ValueError, match="n_folds"):
        RatingClassifier(n_folds=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        RatingClassifier().predict_proba(pd.DataFrame({"user_id": [1], "item_id": [1]}))
