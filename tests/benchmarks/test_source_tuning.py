"""Validation-split tuning of the benchmarks."""

from __future__ import annotations

import pytest
from source_tuning import tune_source, validation_split

from recommender.engine.data import InteractionData


def test_validation_split_protocols(synthetic_data: InteractionData) -> None:
    ratings = synthetic_data.ratings
    fit, held_out = validation_split(ratings, "time", share=0.2)
    latest_fit = fit.groupby("user_id")["timestamp"].max()
    earliest_held = held_out.groupby("user_id")["timestamp"].min()
    assert (latest_fit <= earliest_held.reindex(latest_fit.index)).all()
    fit, held_out = validation_split(ratings, "random", share=0.3, seed=1)
    assert len(fit) + len(held_out) == len(ratings)
    with pytest.raises(ValueError, match="protocol"):
        validation_split(ratings, "leave-one-out", share=0.2)


def test_tune_source_ranks_grid(synthetic_data: InteractionData) -> None:
    table = tune_source(
        "itemknn", {"k": [1, 10], "shrinkage": [0.0]}, synthetic_data.ratings, "random", 0.3
    )
    assert list(table.columns) == ["k", "shrinkage", "ndcg"]
    assert len(table) == 2
    assert table["ndcg"].is_monotonic_decreasing
    assert table["ndcg"].between(0, 1).all()
