"""The like model's probability as a ranker column: out-of-fold in training, final at serving."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender.engine import liking, training
from recommender.engine.artifacts import load_model, save_model
from recommender.engine.config import PipelineConfig
from recommender.engine.data import IdIndex, InteractionData, build_histories, deduplicate_ratings
from recommender.engine.features import LIKE_PROBABILITY
from recommender.engine.folds import time_steps
from recommender.engine.liking import (
    CrossFittedLike,
    viewer_half,
)
from recommender.engine.model import RecommenderModel
from recommender.engine.scoring import candidate_features, recommend


class _Constant:
    """A classifier stub answering ``value`` for every row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.full(len(matrix), self.value)


class _Context:
    """A context stub describing a pair by its row."""

    def describe(self, features, history, user_ids, rows, items) -> np.ndarray:
        return rows[:, None].astype(np.float32)


def test_viewer_halves_are_fixed_per_id_and_balanced() -> None:
    ids = np.arange(1, 20_001)
    half = viewer_half(ids, seed=3)
    assert set(np.unique(half)) == {0, 1}
    assert 0.45 < half.mean() < 0.55
    np.testing.assert_array_equal(viewer_half(ids[::-1], seed=3), half[::-1])
    assert (viewer_half(ids, seed=4) != half).any()


def test_each_viewer_is_scored_by_the_other_halfs_classifier() -> None:
    user_ids = np.arange(100, 140)
    like = CrossFittedLike(_Context(), (_Constant(0.0), _Constant(1.0)), seed=0)
    rows = np.repeat(np.arange(user_ids.size), 3)
    probability = like.predict(None, None, user_ids, rows, np.zeros(rows.size, dtype=np.int64))
    # Half 0's viewers are scored by the classifier trained on half 1 (answers 1).
    np.testing.assert_array_equal(probability, viewer_half(user_ids[rows], seed=0) == 0)


def test_each_half_is_trained_without_the_other_halfs_viewers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained_on = []

    def record(features, liked, validation_share, seed, threads):
        trained_on.append(np.unique(features[:, 0]).astype(np.int64))
        return _Constant(0.5)

    monkeypatch.setattr(liking, "fit_classifier", record)
    users = np.repeat(np.arange(1, 101), 5)
    liked = np.tile([True, False, True, True, False], 100)
    fitted = CrossFittedLike.fit(_Context(), (users[:, None], liked, users), 0.2, 7, 1)

    assert fitted is not None and len(trained_on) == 2
    halves = [set(viewer_half(part, seed=7)) for part in trained_on]
    assert halves == [{0}, {1}]


def test_a_half_too_small_gives_no_fold_like_model() -> None:
    users = np.arange(50)
    pairs = (np.zeros((50, 1), dtype=np.float32), users % 2 == 0, users)
    assert CrossFittedLike.fit(_Context(), pairs, 0.2, 0, 1) is None


def test_configurations_stored_before_the_column_load_without_it() -> None:
    stored = PipelineConfig(like_feature=True).to_dict()
    assert PipelineConfig.from_dict(stored).like_feature is True
    del stored["like_feature"]
    assert PipelineConfig.from_dict(stored).like_feature is False


@pytest.fixture(scope="module")
def like_model(synthetic_data: InteractionData, small_config: PipelineConfig) -> RecommenderModel:
    return training.fit(replace(small_config, like_feature=True), synthetic_data)


def test_the_ranker_reads_the_like_probability(
    like_model: RecommenderModel, synthetic_data: InteractionData
) -> None:
    assert like_model.ranker.feature_names_[-1] == LIKE_PROBABILITY
    assert like_model.feature_names[-1] == LIKE_PROBABILITY
    ratings = synthetic_data.ratings
    users = IdIndex(ratings["user_id"].unique()[:5])
    history = build_histories(ratings, users, like_model.item_index)
    candidates, matrix = candidate_features(
        like_model.config,
        like_model.sources,
        like_model.features,
        history,
        users.ids,
        like=like_model.like,
    )
    expected = like_model.like.predict(
        like_model.features, history, users.ids, candidates.rows, candidates.items
    )
    np.testing.assert_allclose(matrix[:, -1], expected, rtol=1e-6)
    _, without = candidate_features(
        like_model.config, like_model.sources, like_model.features, history, users.ids
    )
    assert np.isnan(without[:, -1]).all()
    np.testing.assert_array_equal(without[:, :-1], matrix[:, :-1])


def test_without_the_setting_there_is_no_column(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    assert not small_config.like_feature
    assert training._fold_like(small_config, None, ()) is None
    model = training.fit(small_config, synthetic_data)
    assert LIKE_PROBABILITY not in model.ranker.feature_names_
    assert model.like is not None  # still trained for the run's AUC


def test_an_artifact_from_before_the_like_column_still_serves(
    synthetic_data: InteractionData,
    small_config: PipelineConfig,
    history_frame,
    tmp_path: Path,
) -> None:
    model = training.fit(small_config, synthetic_data)
    save_model(model, tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    metadata = json.loads(arrays["__metadata__"].tobytes())
    del metadata["config"]["like_feature"]  # as written before the setting existed
    arrays["__metadata__"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)

    loaded = load_model(tmp_path / "old.npz")
    assert loaded.config.like_feature is False
    requests = history_frame(1, [1000, 1001, 1002])
    np.testing.assert_array_equal(
        recommend(loaded, requests, user_ids=[1], topk=5).item_ids,
        recommend(model, requests, user_ids=[1], topk=5).item_ids,
    )


@pytest.mark.parametrize("label_split", ["time", "random", "mixed"])
def test_the_like_model_learns_from_time_folds_only(
    synthetic_data: InteractionData,
    small_config: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
    label_split: str,
) -> None:
    seen = {}

    def record(model, ratings, rows):
        seen["rows"] = rows

    monkeypatch.setattr(training, "_fit_like_model", record)
    config = replace(small_config, label_split=label_split)
    training.fit(config, synthetic_data)

    ratings = deduplicate_ratings(synthetic_data.ratings)
    windows = itertools.islice(time_steps(ratings, config.label_share), config.n_folds)
    expected = [
        np.sort(labels["user_id"][labels["user_id"].isin(fit_part["user_id"])].to_numpy())
        for fit_part, labels in windows
    ]
    assert len(seen["rows"]) == config.n_folds
    for (_, _, users), want in zip(seen["rows"], expected, strict=True):
        np.testing.assert_array_equal(np.sort(users), want)
