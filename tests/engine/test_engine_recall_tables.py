"""Recall tables exported from a model: neighbor lists and the cold-start list."""

from __future__ import annotations

import numpy as np

from recommender.engine.model import RecommenderModel
from recommender.engine.recall_tables import item_source_names, neighbor_table, popularity_table


def test_item_source_names(fitted_model: RecommenderModel) -> None:
    # Popularity and ALS score without an item x item matrix: no neighbor table.
    assert item_source_names(fitted_model) == ["itemknn", "ease", "sequence"]


def test_neighbor_table(fitted_model: RecommenderModel) -> None:
    table = neighbor_table(fitted_model, "itemknn", n=3)
    assert list(table.columns) == ["item_id", "neighbor_id", "score", "rank", "source"]
    assert (table["item_id"] != table["neighbor_id"]).all()
    assert (table["score"] > 0).all() and (table["source"] == "itemknn").all()
    assert table.groupby("item_id")["rank"].max().max() <= 3
    same_block = (table["item_id"] < 1020) == (table["neighbor_id"] < 1020)
    assert same_block.all()


def test_popularity_table(fitted_model: RecommenderModel) -> None:
    table = popularity_table(fitted_model, n=5)
    assert list(table.columns) == ["item_id", "score", "rank"]
    np.testing.assert_array_equal(table["rank"], np.arange(1, 6))
    assert table["score"].is_monotonic_decreasing
    popularity = fitted_model.sources["popularity"].scores_
    expected = fitted_model.item_index.id_of(np.argsort(-popularity, kind="stable")[:5])
    np.testing.assert_array_equal(table["item_id"], expected)
