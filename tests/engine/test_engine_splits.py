"""Train/test splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.engine.splits import random_split, stratified_split, time_split


@pytest.fixture
def ratings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    sizes = {1: 8, 2: 5, 3: 1, 4: 20}
    frames = [
        pd.DataFrame(
            {
                "user_id": user,
                "item_id": rng.choice(100, size=size, replace=False),
                "rating": rng.integers(1, 6, size=size).astype(float),
                "timestamp": rng.choice(np.arange(1, 10_000), size=size, replace=False),
            }
        )
        for user, size in sizes.items()
    ]
    return pd.concat(frames, ignore_index=True)


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def test_stratified_split_per_user_sizes(ratings: pd.DataFrame) -> None:
    train, test = stratified_split(ratings, ratio=0.75, seed=42)
    assert _pairs(train).isdisjoint(_pairs(test))
    assert len(train) + len(test) == len(ratings)
    # round-half-to-even like Recommenders: 8 -> 6, 5 -> round(3.75)=4, 1 -> 1, 20 -> 15.
    expected = {1: 6, 2: 4, 3: 1, 4: 15}
    assert train.groupby("user_id").size().to_dict() == expected


def test_stratified_split_reproduces_recommenders_draw(ratings: pd.DataFrame) -> None:
    keys = np.random.RandomState(42).rand(len(ratings))
    frame = ratings.assign(key=keys)
    user4 = frame[frame["user_id"] == 4].sort_values("key")
    train, _ = stratified_split(ratings, ratio=0.75, seed=42)
    assert set(train[train["user_id"] == 4]["item_id"]) == set(user4["item_id"].iloc[:15])
    again, _ = stratified_split(ratings, ratio=0.75, seed=42)
    assert _pairs(again) == _pairs(train)
    other, _ = stratified_split(ratings, ratio=0.75, seed=7)
    assert _pairs(other) != _pairs(train)


def test_time_split_holds_out_latest(ratings: pd.DataFrame) -> None:
    train, test = time_split(ratings, ratio=0.8)
    for user, held_out in test.groupby("user_id"):
        kept = train[train["user_id"] == user]
        assert kept["timestamp"].max() <= held_out["timestamp"].min()
    assert test.groupby("user_id").size().to_dict() == {1: 2, 2: 1, 4: 4}


def test_random_split_rows(ratings: pd.DataFrame) -> None:
    train, test = random_split(ratings, ratio=0.8, seed=1)
    assert len(train) == round(0.8 * len(ratings))
    assert _pairs(train) | _pairs(test) == _pairs(ratings)


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.5])
def test_invalid_ratio(ratings: pd.DataFrame, ratio: float) -> None:
    with pytest.raises(ValueError, match="ratio"):
        stratified_split(ratings, ratio=ratio)
