"""Artifact round trip and refusal of damaged or foreign files."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.engine import artifacts
from recommender.engine.artifacts import ArtifactError, load_model, save_model
from recommender.engine.model import RecommenderModel
from recommender.engine.scoring import recommend


@pytest.fixture(scope="module")
def saved(fitted_model: RecommenderModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("artifact") / "model.npz"
    save_model(fitted_model, path)
    return path


def _requests(history_frame) -> pd.DataFrame:
    return pd.concat(
        [history_frame(1, [1000, 1001, 1002]), history_frame(2, [1025, 1030]), history_frame(3, [])]
    )


def test_round_trip_gives_identical_recommendations(
    fitted_model: RecommenderModel, saved: Path, history_frame
) -> None:
    restored = load_model(saved)
    requests = _requests(history_frame)
    before = recommend(fitted_model, requests, user_ids=[1, 2, 3, 4], topk=5)
    after = recommend(restored, requests, user_ids=[1, 2, 3, 4], topk=5)
    np.testing.assert_array_equal(before.item_ids, after.item_ids)
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-6)
    np.testing.assert_array_equal(before.sources, after.sources)
    np.testing.assert_array_equal(before.because_item_ids, after.because_item_ids)
    assert restored.fit_report["feature_importance"] == pytest.approx(
        fitted_model.fit_report["feature_importance"]
    )
    assert restored.config == fitted_model.config
    assert restored.vocabulary == fitted_model.vocabulary


def test_load_from_file_object(saved: Path) -> None:
    with saved.open("rb") as stream:
        assert isinstance(load_model(stream), RecommenderModel)


def test_sources_only_artifact_needs_permission(
    fitted_model: RecommenderModel, tmp_path: Path
) -> None:
    target = tmp_path / "sources.npz"
    save_model(replace(fitted_model, ranker=None), target)
    with pytest.raises(ArtifactError, match="ranker was never trained"):
        load_model(target)
    restored = load_model(target, require_ranker=False)
    assert not restored.has_ranker
    assert list(restored.sources) == list(fitted_model.sources)


def test_save_is_atomic_and_leaves_no_temp_files(
    fitted_model: RecommenderModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"previous artifact")

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(artifacts.np, "savez", explode)
    with pytest.raises(OSError, match="disk full"):
        save_model(fitted_model, target)
    assert target.read_bytes() == b"previous artifact"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"not a zip file at all" * 10, id="garbage"),
        pytest.param(
            lambda data: data[:2000] + bytes(b ^ 0xFF for b in data[2000:2100]) + data[2100:],
            id="flipped-bytes",
        ),
    ],
)
def test_corrupted_artifact_is_refused(saved: Path, tmp_path: Path, damage) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(damage(saved.read_bytes()))
    with pytest.raises(ArtifactError):
        load_model(broken)


def _rewrite(saved: Path, target: Path, edit) -> None:
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    edit(arrays)
    with target.open("wb") as stream:
        np.savez(stream, **arrays)


def _set_metadata(arrays: dict, document: dict) -> None:
    arrays["__metadata__"] = np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)


def _edit_metadata(arrays: dict, **changes) -> None:
    _set_metadata(arrays, {**json.loads(arrays["__metadata__"].tobytes()), **changes})


def test_wrong_version_is_refused(saved: Path, tmp_path: Path) -> None:
    target = tmp_path / "old.npz"
    _rewrite(saved, target, lambda arrays: _edit_metadata(arrays, format_version=0))
    with pytest.raises(ArtifactError, match="version 0"):
        load_model(target)


def test_foreign_npz_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "foreign.npz"
    np.savez(target, weights=np.ones(3))
    with pytest.raises(ArtifactError, match="metadata"):
        load_model(target)
    _rewrite(target, target, lambda arrays: _set_metadata(arrays, {"format": "other"}))
    with pytest.raises(ArtifactError, match="not a"):
        load_model(target)


def test_tampered_array_fails_checksum(saved: Path, tmp_path: Path) -> None:
    target = tmp_path / "tampered.npz"

    def tamper(arrays: dict) -> None:
        arrays["item_ids"] = arrays["item_ids"][::-1].copy()

    _rewrite(saved, target, tamper)
    with pytest.raises(ArtifactError, match="checksum"):
        load_model(target)


def test_missing_file_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(ArtifactError):
        load_model(io.BytesIO(b"\x00" * 10))
