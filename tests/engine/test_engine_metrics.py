"""Metrics against hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.metrics import (
    catalogue_coverage,
    evaluate_topk,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    roc_auc,
)

# User 0: hits at ranks 1 and 3 of 4 relevant items; user 1: hit at rank 2 of 1
# relevant item; user 2 has no relevant items and is skipped.
RECOMMENDED = np.array([[10, 11, 12, -1], [20, 21, 22, 23], [30, 31, 32, 33]])
RELEVANT = [{10, 12, 13, 14}, {21}, set()]


def test_precision_uses_k_denominator() -> None:
    # (2/3 + 1/3) / 2, padding counts as a miss.
    assert precision_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(0.5)
    assert precision_at_k(RECOMMENDED, RELEVANT, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)


def test_recall_and_hit_rate() -> None:
    assert recall_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx((2 / 4 + 1) / 2)
    assert recall_at_k(RECOMMENDED, RELEVANT, 1) == pytest.approx((1 / 4 + 0) / 2)
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 1) == pytest.approx(0.5)
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 2) == pytest.approx(1.0)


def test_ndcg_hand_worked() -> None:
    # User 0: DCG = 1 + 1/log2(4) = 1.5; ideal with min(4, 3) = 3 hits
    # = 1 + 1/log2(3) + 0.5.  User 1: DCG = 1/log2(3), ideal = 1.
    user0 = 1.5 / (1 + 1 / np.log2(3) + 0.5)
    user1 = 1 / np.log2(3)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx((user0 + user1) / 2)


def test_ndcg_perfect_and_short_lists() -> None:
    assert ndcg_at_k(np.array([[1, 2]]), [{1, 2}], 10) == pytest.approx(1.0)
    assert ndcg_at_k(np.array([[5, 1]]), [{1}], 1) == pytest.approx(0.0)


def test_map_denominators() -> None:
    # User 0: precisions at hits 1/1 and 2/3; user 1: 1/2.
    numerator0 = 1 + 2 / 3
    by_min = (numerator0 / 3 + 0.5 / 1) / 2
    by_relevant = (numerator0 / 4 + 0.5 / 1) / 2
    assert map_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(by_min)
    assert map_at_k(RECOMMENDED, RELEVANT, 3, denominator="relevant") == pytest.approx(by_relevant)
    with pytest.raises(ValueError, match="denominator"):
        map_at_k(RECOMMENDED, RELEVANT, 3, denominator="k")


def test_coverage_ignores_padding() -> None:
    assert catalogue_coverage(RECOMMENDED, 100, k=3) == pytest.approx(9 / 100)
    assert catalogue_coverage(np.array([[1, -1], [1, 2]]), 4) == pytest.approx(0.5)


def test_auc_hand_worked_with_ties() -> None:
    # Pairs (pos, neg): (0.8, 0.3) win, (0.8, 0.8) tie, (0.4, 0.3) win, (0.4, 0.8) loss.
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.3, 0.4, 0.8])
    assert roc_auc(labels, scores) == pytest.approx(2.5 / 4)
    assert roc_auc(np.array([0, 1]), np.array([0.1, 0.9])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive"):
        roc_auc(np.array([1, 1]), np.array([0.1, 0.2]))


def test_validation_and_no_evaluable_users() -> None:
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(RECOMMENDED, RELEVANT, 0)
    with pytest.raises(ValueError, match="n_users"):
        precision_at_k(RECOMMENDED, RELEVANT[:2], 3)
    assert np.isnan(recall_at_k(np.array([[1]]), [set()], 1))


def test_evaluate_topk_keys() -> None:
    result = evaluate_topk(RECOMMENDED, RELEVANT, 3, n_catalogue=100)
    assert set(result) == {"ndcg@3", "precision@3", "recall@3", "map@3", "hit_rate@3", "coverage"}
    assert result["precision@3"] == pytest.approx(0.5)
