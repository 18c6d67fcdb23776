"""Fixtures of the benchmark helpers' tests on tiny synthetic data (no Django, no files)."""

from __future__ import annotations

import pytest
from synthetic_blocks import block_data

from recommender.engine.data import InteractionData


@pytest.fixture(scope="session")
def synthetic_data() -> InteractionData:
    return block_data()


@pytest.fixture(autouse=True)
def isolated_media() -> None:
    """Shadow the suite-wide autouse media fixture: the benchmarks never touch Django."""
