"""End-to-end pipeline behaviour on the synthetic two-block data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.engine.data import InteractionData
from recommender.engine.pipeline import PipelineConfig, RecommenderPipeline


def test_block_users_get_their_block(
    fitted_pipeline: RecommenderPipeline, history_frame, blocks
) -> None:
    block_a, block_b = blocks
    histories = pd.concat(
        [history_frame(501, [1000, 1001, 1002]), history_frame(502, [1030, 1031])]
    )
    batch = fitted_pipeline.recommend(histories, topk=5)
    np.testing.assert_array_equal(batch.user_ids, [501, 502])
    assert batch.item_ids.shape == batch.scores.shape == (2, 5)
    assert set(batch.item_ids[0].tolist()) <= block_a - {1000, 1001, 1002}
    assert set(batch.item_ids[1].tolist()) <= block_b - {1030, 1031}
    assert np.all(np.diff(batch.scores, axis=1) <= 0)


def test_reasons_point_into_history(fitted_pipeline: RecommenderPipeline, history_frame) -> None:
    seen = [1000, 1001, 1002, 1003]
    recs = fitted_pipeline.recommend(history_frame(7, seen), topk=4).for_user(7)
    assert len(recs) == 4
    for rec in recs:
        assert rec.source in fitted_pipeline.config.sources
        assert rec.because_item_id is None or rec.because_item_id in seen
    assert any(rec.because_item_id in seen for rec in recs)


def test_cold_start_and_order_and_exclusion(
    fitted_pipeline: RecommenderPipeline, history_frame
) -> None:
    histories = history_frame(3, [1000, 1001])
    batch = fitted_pipeline.recommend(
        histories, user_ids=[999, 3], topk=6, exclude={3: [1004, 1005]}
    )
    np.testing.assert_array_equal(batch.user_ids, [999, 3])
    cold = batch.for_user(999)
    assert [rec.source for rec in cold] == ["popularity"] * 6
    assert all(rec.because_item_id is None for rec in cold)
    popularity = fitted_pipeline.sources_["popularity"].scores_
    expected = fitted_pipeline.item_index_.id_of(np.argsort(-popularity, kind="stable")[:6])
    np.testing.assert_array_equal(batch.item_ids[0], expected)
    assert not {1000, 1001, 1004, 1005} & set(batch.item_ids[1].tolist())
    with pytest.raises(KeyError):
        batch.for_user(12345)


def test_unknown_history_items_are_ignored(
    fitted_pipeline: RecommenderPipeline, history_frame
) -> None:
    known = fitted_pipeline.recommend(history_frame(8, [1020, 1021]), topk=3)
    mixed = fitted_pipeline.recommend(history_frame(8, [1020, 1021, 77_777]), topk=3)
    np.testing.assert_array_equal(known.item_ids, mixed.item_ids)


def test_short_candidate_lists_are_padded(
    fitted_pipeline: RecommenderPipeline, history_frame
) -> None:
    # 41 catalogue items (one never rated) minus the single history item.
    batch = fitted_pipeline.recommend(history_frame(9, [1000]), topk=40)
    items = batch.item_ids[0]
    assert (items >= 0).all() and len(set(items.tolist())) == 40
    assert 1000 not in items
    assert np.all(np.diff(batch.scores[0]) <= 0)


def test_fit_report_and_neighbours(fitted_pipeline: RecommenderPipeline) -> None:
    report = fitted_pipeline.fit_report_
    assert 0 < report["fold0_candidate_recall"] <= 1
    assert set(report["feature_importance"]) == set(fitted_pipeline.feature_names)
    # The ranker is refitted on all users with the early-stopped tree count.
    assert fitted_pipeline.ranker_.booster_.num_trees() == max(report["ranker_trees"], 1)
    table = fitted_pipeline.neighbour_table("itemknn", n=3)
    assert list(table.columns) == ["item_id", "neighbour_id", "score", "rank", "source"]
    assert (table["item_id"] != table["neighbour_id"]).all()
    assert table.groupby("item_id")["rank"].max().max() <= 3
    same_block = (table["item_id"] < 1020) == (table["neighbour_id"] < 1020)
    assert same_block.all()


def test_unfitted_and_invalid(small_config: PipelineConfig, history_frame) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        RecommenderPipeline(small_config).recommend(history_frame(1, [1000]))
    with pytest.raises(ValueError, match="popularity"):
        PipelineConfig(sources={"itemknn": {"kind": "itemknn"}})
    with pytest.raises(ValueError, match="unknown source kind"):
        PipelineConfig(sources={"popularity": {"kind": "popularity"}, "x": {"kind": "nope"}})
    with pytest.raises(ValueError, match="shrinkage"):
        PipelineConfig(
            sources={
                "popularity": {"kind": "popularity"},
                "itemknn": {"kind": "itemknn", "shrinkage": -1},
            }
        )


def test_random_label_split_and_binary_objective(
    synthetic_data: InteractionData, small_config: PipelineConfig, history_frame, blocks
) -> None:
    config = PipelineConfig(
        **{
            **small_config.to_dict(),
            "ranker": small_config.ranker.__class__(
                objective="binary", min_data_in_leaf=5, num_leaves=4, n_estimators=10
            ),
            "label_split": "random",
            "label_share": 0.25,
            "n_folds": 1,
        }
    )
    pipeline = RecommenderPipeline(config).fit(synthetic_data)
    batch = pipeline.recommend(history_frame(4, [1000, 1001, 1002]), topk=3)
    assert set(batch.item_ids[0].tolist()) <= blocks[0]
