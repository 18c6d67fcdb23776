"""Artifacts loaded with their arrays memory-mapped: same model, shared pages, same checks."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.engine import artifacts
from recommender.engine.artifacts import ArtifactError, load_model, save_model
from recommender.engine.model import RecommenderModel
from recommender.engine.scoring import recommend


def is_mapped(array: np.ndarray) -> bool:
    while isinstance(array, np.ndarray):
        if isinstance(array, np.memmap):
            return True
        array = array.base
    return isinstance(array, mmap.mmap)


@pytest.fixture
def saved(fitted_model: RecommenderModel, tmp_path: Path) -> Path:
    path = tmp_path / "model.npz"
    save_model(fitted_model, path)
    return path


@pytest.fixture
def map_everything(monkeypatch) -> None:
    """Map every member, however small (the synthetic model's arrays are all small)."""
    monkeypatch.setattr(artifacts, "MMAP_MIN_BYTES", 1)


def test_a_mapped_model_recommends_exactly_as_a_read_one(
    saved: Path, history_frame, map_everything
) -> None:
    requests = pd.concat([history_frame(1, [1000, 1001, 1002]), history_frame(2, [1025])])

    read = recommend(load_model(saved), requests, user_ids=[1, 2, 3], topk=5)
    mapped_model = load_model(saved, mmap=True)
    mapped = recommend(mapped_model, requests, user_ids=[1, 2, 3], topk=5)

    np.testing.assert_array_equal(read.item_ids, mapped.item_ids)
    np.testing.assert_array_equal(read.scores, mapped.scores)
    np.testing.assert_array_equal(read.because_item_ids, mapped.because_item_ids)
    # The largest arrays serve straight from the mapping (no copy was made on load).
    assert is_mapped(mapped_model.features.item_time_keys_)
    assert not is_mapped(load_model(saved).features.item_time_keys_)
    with saved.open("rb") as handle:
        assert load_model(handle, mmap=True).config == mapped_model.config


def test_writing_to_a_mapped_array_never_changes_the_file(saved: Path, map_everything) -> None:
    before = saved.read_bytes()
    keys = load_model(saved, mmap=True).features.item_time_keys_

    keys[:] = -1  # copy-on-write: this process's pages only

    assert saved.read_bytes() == before
    assert (load_model(saved, mmap=True).features.item_time_keys_ != -1).any()


def test_a_damaged_mapped_artifact_is_refused(saved: Path, map_everything) -> None:
    content = bytearray(saved.read_bytes())
    middle = len(content) // 2
    # Flipped, not zeroed: the bytes there may already be zeros (a sparse array's padding).
    content[middle : middle + 16] = bytes(b ^ 0xFF for b in content[middle : middle + 16])
    saved.write_bytes(bytes(content))

    with pytest.raises(ArtifactError):
        load_model(saved, mmap=True)


def test_a_truncated_mapped_artifact_is_refused(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes()[:1000])

    with pytest.raises(ArtifactError, match="cannot read pipeline artifact"):
        load_model(saved, mmap=True)
