"""Offline evaluation: the ranking AUC on hand-worked cases, and the hold-out report."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recommender.engine import evaluation
from recommender.engine.config import TUNED_SOURCES, baseline_sources, default_sources
from recommender.engine.evaluation import (
    evaluate_holdout,
    holdout_split,
    ranking_auc,
    relevant_lists,
)


def test_perfect_and_reversed_rankings() -> None:
    # 5 unseen items, positives {1, 2}.
    assert ranking_auc(np.array([[1, 2, 3, 4, 5]]), [np.array([1, 2])], np.array([5])) == 1.0
    assert ranking_auc(np.array([[3, 4, 5, 1, 2]]), [np.array([1, 2])], np.array([5])) == 0.0


def test_hand_worked_partial_ranking() -> None:
    # Ranking 3, 1, 4, 2, 5 with positives {1, 2}: positive 1 loses to one negative (3),
    # positive 2 to two (3, 4): 3 losses out of 2 x 3 pairs.
    auc = ranking_auc(np.array([[3, 1, 4, 2, 5]]), [np.array([1, 2])], np.array([5]))
    assert auc == pytest.approx(1 - 3 / 6)


def test_unlisted_items_tie_below_the_list() -> None:
    # Only 3 of 5 unseen items listed (-1 pads): positive 2 is unlisted, so it loses to the
    # listed negatives 3 and 4 and ties with the unlisted negative 5 (half a loss).
    auc = ranking_auc(np.array([[1, 3, 4, -1, -1]]), [np.array([1, 2])], np.array([5]))
    assert auc == pytest.approx(1 - (0 + 2 + 0.5) / 6)


def test_users_without_positives_or_negatives_are_skipped() -> None:
    ranked = np.array([[1, 2], [1, 2]])
    assert ranking_auc(ranked, [np.array([]), np.array([1, 2])], np.array([2, 2])) != 0
    assert np.isnan(ranking_auc(ranked[:1], [np.array([])], np.array([2])))


def test_holdout_split_protocols(synthetic_data) -> None:
    train, test = holdout_split(synthetic_data.ratings, "time", 0.2, seed=1)
    latest_train = train.groupby("user_id")["timestamp"].max()
    earliest_test = test.groupby("user_id")["timestamp"].min()
    assert (latest_train.loc[earliest_test.index] <= earliest_test).all()
    with pytest.raises(ValueError, match="protocol must be one of"):
        holdout_split(synthetic_data.ratings, "sideways", 0.2, seed=1)


def test_report_scores_the_system_and_every_baseline(synthetic_data, small_config) -> None:
    report = evaluate_holdout(synthetic_data, small_config, protocol="stratified", test_share=0.25)

    assert set(report.baselines) == {"popularity", "cooccurrence", "itemknn", "ease"}
    for metrics in [report.system, *report.baselines.values()]:
        assert {"ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "auc"} <= set(
            metrics
        )
        assert 0 <= metrics["ndcg@10"] <= 1
    # Block-structured data: collaborative signals must beat global popularity.
    assert report.system["ndcg@10"] > report.baselines["popularity"]["ndcg@10"]
    assert 0 < report.candidate_recall <= 1
    assert report.protocol["test_ratings"] + report.protocol["train_ratings"] == len(
        synthetic_data.ratings
    )


def test_baselines_reuse_the_system_sources_with_the_metrics_of_a_refit(
    synthetic_data, small_config, monkeypatch
) -> None:
    reused = evaluate_holdout(synthetic_data, small_config, test_share=0.25)
    # Without the system's sources every baseline is fitted alone, as it was before.
    monkeypatch.setattr(evaluation, "_system_sources", lambda model, items: {})
    refitted = evaluate_holdout(synthetic_data, small_config, test_share=0.25)

    assert reused.protocol["baselines_from_system"] == ["ease", "itemknn", "popularity"]
    assert refitted.protocol["baselines_from_system"] == []
    assert reused.baselines == refitted.baselines


def test_baselines_are_refitted_over_another_catalogue(synthetic_data, small_config) -> None:
    # A movie outside the items table rated last: only in the held-out part, so the
    # system's catalogue (items table + training ratings) lacks it.
    ratings = synthetic_data.ratings
    latest = ratings.iloc[[ratings["timestamp"].idxmax()]].assign(
        item_id=ratings["item_id"].max() + 1000, timestamp=ratings["timestamp"].max() + 1
    )
    data = replace(synthetic_data, ratings=pd.concat([ratings, latest], ignore_index=True))
    report = evaluate_holdout(data, small_config, test_share=0.25)

    assert report.protocol["baselines_from_system"] == []
    assert set(report.baselines) == {"popularity", "cooccurrence", "itemknn", "ease"}


def test_relevant_lists_order_and_missing_users() -> None:
    held_out = pd.DataFrame({"user_id": [2, 2, 5], "item_id": [10, 11, 12]})
    lists = relevant_lists(held_out, [5, 3, 2])
    assert [sorted(x.tolist()) for x in lists] == [[12], [], [10, 11]]


def test_baselines_and_defaults_share_the_tuned_parameters() -> None:
    baselines, defaults = baseline_sources(), default_sources()
    assert list(baselines) == ["popularity", "cooccurrence", "itemknn", "ease"]
    for name in set(baselines) & set(defaults):
        assert baselines[name] == defaults[name] == TUNED_SOURCES[name]
    # Fresh copies: editing one never leaks into the shared table.
    defaults["ease"]["l2"] = 1.0
    assert default_sources()["ease"] == TUNED_SOURCES["ease"]
