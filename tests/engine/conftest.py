"""Fixtures of the engine tests on tiny synthetic data (no Django, no files)."""

from __future__ import annotations

import pytest
from synthetic_blocks import (
    ITEM_OFFSET,
    N_ITEMS,
    block_data,
    make_history,
)

from recommender.engine.config import PipelineConfig
from recommender.engine.data import InteractionData
from recommender.engine.model import RecommenderModel
from recommender.engine.ranking import RankerConfig
from recommender.engine.training import fit


@pytest.fixture(scope="session")
def synthetic_data() -> InteractionData:
    return block_data()


@pytest.fixture(scope="session")
def small_config() -> PipelineConfig:
    return PipelineConfig(
        sources={
            "popularity": {"kind": "popularity"},
            "itemknn": {"kind": "itemknn", "k": 10, "shrinkage": 1.0},
            "ease": {"kind": "ease", "l2": 10.0},
            "sequence": {"kind": "sequence", "window": 3, "n_recent": 3},
            "als": {"kind": "als", "factors": 2, "regularization": 0.1, "iterations": 5},
        },
        n_candidates=8,
        n_folds=2,
        label_split="time",
        ranker=RankerConfig(min_data_in_leaf=5, num_leaves=4, n_estimators=30),
    )


@pytest.fixture(scope="session")
def fitted_model(synthetic_data: InteractionData, small_config: PipelineConfig) -> RecommenderModel:
    return fit(small_config, synthetic_data)


@pytest.fixture(scope="session")
def blocks() -> tuple[set[int], set[int]]:
    """External ids of the block-A and block-B items."""
    half = N_ITEMS // 2
    return (
        set(range(ITEM_OFFSET, ITEM_OFFSET + half)),
        set(range(ITEM_OFFSET + half, ITEM_OFFSET + N_ITEMS)),
    )


@pytest.fixture(scope="session")
def history_frame():
    """Factory of serving histories: ``history_frame(user_id, item_ids)``."""
    return make_history


@pytest.fixture(autouse=True)
def isolated_media() -> None:
    """Shadow the suite-wide autouse media fixture: the engine never touches Django.

    The parent fixture needs pytest-django's ``settings``; overriding it keeps
    ``pytest tests/engine -p no:django`` working without Django configured.
    """
