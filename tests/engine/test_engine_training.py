"""Training stages and configuration validation on the synthetic two-block data."""

from __future__ import annotations

from dataclasses import replace

import pytest

from recommender.engine.config import PipelineConfig
from recommender.engine.data import InteractionData
from recommender.engine.model import RecommenderModel
from recommender.engine.scoring import recommend
from recommender.engine.training import fit, fit_ranker, fit_sources


def test_fit_report(fitted_model: RecommenderModel) -> None:
    report = fitted_model.fit_report
    assert 0 < report["fold0_candidate_recall"] <= 1
    assert set(report["feature_importance"]) == set(fitted_model.feature_names)
    assert {"sources_seconds", "ranker_seconds", "fit_seconds"} <= set(report)
    # The ranker is refitted on all users with the early-stopped tree count.
    assert report["ranker_refit"] and report["ranker_rows"] > 0
    assert fitted_model.ranker.booster_.num_trees() == max(report["ranker_trees"], 1)


def test_ranker_of_sampled_folds_keeps_the_early_stopped_fit(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    # A row budget below the viewers' rows: each fold's viewers are sampled.
    config = replace(small_config, ranker_row_budget=2_000)
    kept = fit_ranker(fit_sources(config, synthetic_data), synthetic_data)
    forced = replace(config, refit_when_sampled=True)
    refitted = fit_ranker(fit_sources(forced, synthetic_data), synthetic_data)

    assert not kept.fit_report["ranker_refit"] and refitted.fit_report["ranker_refit"]
    assert kept.fit_report["ranker_trees"] == refitted.fit_report["ranker_trees"]
    # Same tree count, but the refit learnt from the validation viewers' rows too.
    assert kept.ranker.to_string() != refitted.ranker.to_string()


def test_stages_equal_fit_and_leave_the_input_unchanged(
    synthetic_data: InteractionData, small_config: PipelineConfig, fitted_model: RecommenderModel
) -> None:
    sources_only = fit_sources(small_config, synthetic_data)
    assert not sources_only.has_ranker
    assert list(sources_only.fit_report) == ["sources_seconds", "recall_choices"]
    staged = fit_ranker(sources_only, synthetic_data)
    assert staged.has_ranker and not sources_only.has_ranker
    assert staged.ranker.to_string() == fitted_model.ranker.to_string()
    assert staged.fit_report["feature_importance"] == fitted_model.fit_report["feature_importance"]


def test_too_few_ratings_for_the_ranker(
    synthetic_data: InteractionData, small_config: PipelineConfig
) -> None:
    # One rating per user: no fold has a user with both a history and a label.
    one_each = synthetic_data.ratings.groupby("user_id").head(1)
    with pytest.raises(ValueError, match="too few ratings"):
        fit(small_config, synthetic_data.with_ratings(one_each))


def test_invalid_configurations() -> None:
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
    with pytest.raises(ValueError, match="similarity_source"):
        PipelineConfig(
            sources={"popularity": {"kind": "popularity"}}, similarity_source="popularity"
        )


def test_config_round_trips_through_a_dict(small_config: PipelineConfig) -> None:
    assert PipelineConfig.from_dict(small_config.to_dict()) == small_config


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
    model = fit(config, synthetic_data)
    batch = recommend(model, history_frame(4, [1000, 1001, 1002]), topk=3)
    assert set(batch.item_ids[0].tolist()) <= blocks[0]
