"""Ranker objectives (fold labels, graded relevance) and the like model, on synthetic data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.engine import ranker_fit, training
from recommender.engine.artifacts import load_model, save_model
from recommender.engine.config import PipelineConfig
from recommender.engine.data import IdIndex, InteractionData, build_histories
from recommender.engine.evaluation import holdout_split, like_auc, mean_baseline_scores
from recommender.engine.folds import ranker_folds
from recommender.engine.model import RecommenderModel
from recommender.engine.ranking import LightGBMRanker, RankerConfig
from recommender.engine.rating_predictors import recent_offset
from recommender.engine.splits import stratified_split, time_split


def test_mixed_folds_alternate_time_and_random(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    config = replace(small_config, label_split="mixed", n_folds=3, seed=5)
    folds = list(ranker_folds(config, synthetic_data.ratings))

    first_fit, first_labels = time_split(synthetic_data.ratings, 0.8)
    pd.testing.assert_frame_equal(folds[0][1], first_labels)
    pd.testing.assert_frame_equal(
        folds[1][1], stratified_split(synthetic_data.ratings, 0.8, seed=6)[1]
    )
    # The second time fold steps back from the first one's fit part.
    pd.testing.assert_frame_equal(folds[2][1], time_split(first_fit, 0.8)[1])


def test_unknown_objectives_are_refused() -> None:
    with pytest.raises(ValueError, match="label_split"):
        PipelineConfig(label_split="sideways")
    with pytest.raises(ValueError, match="relevance"):
        PipelineConfig(relevance="loved")


@pytest.mark.parametrize("relevance", ["rated", "liked"])
def test_liked_relevance_grades_the_labels(
    synthetic_data: InteractionData, small_config: PipelineConfig, relevance: str
) -> None:
    config = replace(small_config, relevance=relevance)
    model = training.fit_sources(config, synthetic_data)
    fit_part, label_part, _ = next(ranker_folds(config, synthetic_data.ratings))
    fitted = training._fit_on(
        config, synthetic_data.with_ratings(fit_part), model.item_index, model.vocabulary
    )
    labelled = training._training_slice(model, fitted, label_part, fold=0)

    expected = {0.0, 1.0, 2.0} if relevance == "liked" else {0.0, 1.0}
    assert set(np.unique(labelled.labels)) == expected
    if relevance == "liked":
        # Every held-out rating >= 4 among the candidates is a 2, the others a 1.
        liked = label_part[label_part["rating"] >= 4]
        assert (labelled.labels == 2).sum() <= len(liked)
        assert 0 < labelled.candidate_recall <= 1


def test_every_fitted_model_has_a_like_model(fitted_model: RecommenderModel) -> None:
    assert fitted_model.like is not None
    assert fitted_model.fit_report["like_trees"] >= 1


def test_the_like_model_survives_the_artifact(
    fitted_model: RecommenderModel, synthetic_data: InteractionData, tmp_path: Path
) -> None:
    save_model(fitted_model, tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    ratings = synthetic_data.ratings
    users = IdIndex(ratings["user_id"].unique())
    history = build_histories(ratings, users, fitted_model.item_index)
    rows = np.arange(len(users))
    items = np.zeros(len(users), dtype=np.int64)
    np.testing.assert_allclose(
        loaded.like.predict(loaded.features, history, users.ids, rows, items),
        fitted_model.like.predict(fitted_model.features, history, users.ids, rows, items),
    )


def test_mean_baseline_reads_the_training_rows_only() -> None:
    train = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10], "rating": [5.0, 3.0, 1.0]})
    pairs = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [11, 12, 10], "rating": [1.0] * 3})
    # user mean + item mean; unknown users and items take the global mean (3).
    np.testing.assert_allclose(mean_baseline_scores(train, pairs), [4 + 3, 1 + 3, 3 + 3])


def test_like_auc_uses_no_statistic_of_the_test_rows(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    train, test = holdout_split(synthetic_data.ratings, "stratified", 0.25, seed=3)
    model = training.fit(small_config, synthetic_data.with_ratings(train))
    report = like_auc(model, train, test)
    # Swap liked and not liked in the test part: scores computed from the training part
    # alone do not move, so both AUCs turn into exactly 1 - AUC. A statistic that read the
    # test ratings would move with them.
    flipped = test.assign(rating=np.where(test["rating"] >= 4, 1.0, 5.0))
    swapped = like_auc(model, train, flipped)

    assert report["pairs"] == swapped["pairs"] == len(test)
    assert 0 <= report["auc"] <= 1
    assert swapped["auc"] == pytest.approx(1 - report["auc"])
    assert swapped["baseline_auc"] == pytest.approx(1 - report["baseline_auc"])


def test_folds_carry_the_weight_of_their_kind(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    config = replace(small_config, label_split="mixed", n_folds=3, random_fold_weight=0.25)
    weights = [weight for _, _, weight in ranker_folds(config, synthetic_data.ratings)]

    assert weights == [1.0, 0.25, 1.0]
    with pytest.raises(ValueError, match="random_fold_weight"):
        replace(config, random_fold_weight=0.0)


def test_the_ranker_rows_are_weighted_by_fold(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    config = replace(small_config, label_split="mixed", random_fold_weight=0.5)
    model = training.fit(config, synthetic_data)
    slices = [
        ranker_fit.TrainingSlice(np.zeros((n, 1)), np.ones(n), np.array([n]), np.ones(n), 1.0, w)
        for n, w in ((2, 1.0), (3, 0.5))
    ]

    *_, weights = ranker_fit.stack_slices(slices)
    np.testing.assert_array_equal(weights, [1.0, 1.0, 0.5, 0.5, 0.5])
    assert model.ranker.booster_.num_trees() > 0


def test_recent_offset_is_the_latest_ratings_against_the_mean() -> None:
    ratings = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 2],
            "item_id": [10, 11, 12, 13, 10],
            "rating": [5.0, 5.0, 1.0, 1.0, 3.0],
            "timestamp": [1, 2, 3, 4, 1],
        }
    )
    history = build_histories(ratings, IdIndex([1, 2, 3]), IdIndex([10, 11, 12, 13]))

    np.testing.assert_allclose(recent_offset(history, n_recent=2), [-2.0, 0.0, 0.0])


def test_row_weights_reach_lightgbm() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 2))
    labels = (rng.random(400) < 0.5).astype(np.float32)
    config = RankerConfig(objective="binary", min_data_in_leaf=5, n_estimators=20)
    weights = np.where(labels == 1, 4.0, 1.0)

    plain = LightGBMRanker(config).fit(features, labels, None, None, ["a", "b"])
    weighted = LightGBMRanker(config).fit(features, labels, None, None, ["a", "b"], (), weights)

    # Up-weighting the positives raises every predicted probability.
    assert weighted.predict(features).mean() > plain.predict(features).mean() + 0.1
