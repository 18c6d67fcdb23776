"""Serving a fitted model on the synthetic two-block data: ranking, reasons, cold start."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recommender.engine.model import RecommenderModel
from recommender.engine.scoring import recommend


def test_block_users_get_their_block(fitted_model: RecommenderModel, history_frame, blocks) -> None:
    block_a, block_b = blocks
    histories = pd.concat(
        [history_frame(501, [1000, 1001, 1002]), history_frame(502, [1030, 1031])]
    )
    batch = recommend(fitted_model, histories, topk=5)
    np.testing.assert_array_equal(batch.user_ids, [501, 502])
    assert batch.item_ids.shape == batch.scores.shape == (2, 5)
    assert set(batch.item_ids[0].tolist()) <= block_a - {1000, 1001, 1002}
    assert set(batch.item_ids[1].tolist()) <= block_b - {1030, 1031}
    assert np.all(np.diff(batch.scores, axis=1) <= 0)


def test_reasons_point_into_history(fitted_model: RecommenderModel, history_frame) -> None:
    seen = [1000, 1001, 1002, 1003]
    recs = recommend(fitted_model, history_frame(7, seen), topk=4).for_user(7)
    assert len(recs) == 4
    for rec in recs:
        assert rec.source in fitted_model.config.sources
        assert rec.because_item_id is None or rec.because_item_id in seen
    assert any(rec.because_item_id in seen for rec in recs)


def test_cold_start_and_order_and_exclusion(fitted_model: RecommenderModel, history_frame) -> None:
    histories = history_frame(3, [1000, 1001])
    batch = recommend(fitted_model, histories, user_ids=[999, 3], topk=6, exclude={3: [1004, 1005]})
    np.testing.assert_array_equal(batch.user_ids, [999, 3])
    cold = batch.for_user(999)
    assert [rec.source for rec in cold] == ["popularity"] * 6
    assert all(rec.because_item_id is None for rec in cold)
    popularity = fitted_model.sources["popularity"].scores_
    expected = fitted_model.item_index.id_of(np.argsort(-popularity, kind="stable")[:6])
    np.testing.assert_array_equal(batch.item_ids[0], expected)
    assert not {1000, 1001, 1004, 1005} & set(batch.item_ids[1].tolist())
    with pytest.raises(KeyError):
        batch.for_user(12345)


def test_unknown_history_items_are_ignored(fitted_model: RecommenderModel, history_frame) -> None:
    known = recommend(fitted_model, history_frame(8, [1020, 1021]), topk=3)
    mixed = recommend(fitted_model, history_frame(8, [1020, 1021, 77_777]), topk=3)
    np.testing.assert_array_equal(known.item_ids, mixed.item_ids)


def test_short_candidate_lists_are_padded(fitted_model: RecommenderModel, history_frame) -> None:
    # 41 catalogue items (one never rated) minus the single history item.
    batch = recommend(fitted_model, history_frame(9, [1000]), topk=40)
    items = batch.item_ids[0]
    assert (items >= 0).all() and len(set(items.tolist())) == 40
    assert 1000 not in items
    assert np.all(np.diff(batch.scores[0]) <= 0)


def test_batches_are_combined_in_request_order(
    fitted_model: RecommenderModel, history_frame
) -> None:
    histories = pd.concat(
        [history_frame(user, [1000 + user % 40, 1000 + (user + 3) % 40]) for user in range(1, 8)]
    )
    users = [5, 999, 2, 7, 1, 6, 3, 4]
    whole = recommend(fitted_model, histories, user_ids=users, topk=6)
    small = replace(fitted_model, config=replace(fitted_model.config, batch_size=3))
    batched = recommend(small, histories, user_ids=users, topk=6)
    np.testing.assert_array_equal(whole.user_ids, users)
    for name in ("item_ids", "scores", "sources", "because_item_ids"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(batched, name))


def test_no_users_gives_an_empty_batch(fitted_model: RecommenderModel, history_frame) -> None:
    batch = recommend(fitted_model, history_frame(1, [1000]), user_ids=[], topk=3)
    assert batch.item_ids.shape == batch.sources.shape == (0, 3)


def test_model_without_ranker_and_bad_topk(fitted_model: RecommenderModel, history_frame) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        recommend(replace(fitted_model, ranker=None), history_frame(1, [1000]))
    with pytest.raises(ValueError, match="topk"):
        recommend(fitted_model, history_frame(1, [1000]), topk=0)
    with pytest.raises(ValueError, match="duplicates"):
        recommend(fitted_model, history_frame(1, [1000]), user_ids=[1, 1])
