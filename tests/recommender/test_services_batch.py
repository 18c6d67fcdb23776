"""Batch scoring: chunks of viewers as a Celery group (eager here), one TSV in order."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ingestion.models import Viewer
from recommender.services import batch, serving

pytestmark = pytest.mark.django_db


def read_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(), delimiter="\t"))


def test_chunks_cover_every_viewer_in_order(synthetic_ratings) -> None:
    chunks = list(batch.viewer_chunks(chunk_size=7))

    assert [len(chunk) for chunk in chunks] == [7] * 8 + [4]
    assert [viewer for chunk in chunks for viewer in chunk] == list(range(1, 61))
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        list(batch.viewer_chunks(chunk_size=0))


def test_a_chunked_export_is_the_serving_answer_of_every_viewer(
    trained, eager, tmp_path: Path
) -> None:
    target = tmp_path / "recs.tsv"

    export = batch.recommendations_export(output=target, topk=4, chunk_size=7)

    assert (export.viewers, export.chunks, export.rows) == (60, 9, 240)
    rows = read_rows(target)
    expected = serving.recommendations_for_viewers(viewer_ids=list(range(1, 61)), topk=4)
    assert [(int(r["user_id"]), int(r["item_id"]), int(r["rank"])) for r in rows] == [
        (result.user_id, item.item_id, rank)
        for result in expected
        for rank, item in enumerate(result.recommendations, start=1)
    ]
    # The chunk size changes nothing in the output.
    batch.recommendations_export(output=tmp_path / "one.tsv", topk=4, chunk_size=100)
    assert (tmp_path / "one.tsv").read_text() == target.read_text()


def test_an_unwritable_output_fails_cleanly_and_leaves_no_file(
    trained, eager, tmp_path: Path
) -> None:
    target = tmp_path / "missing-folder" / "recs.tsv"

    with pytest.raises(CommandError, match=r"cannot write .*recs\.tsv"):
        call_command("recommend", "--all", "--output", str(target), "--chunk-size", "10")
    assert not target.parent.exists()


def test_a_failing_chunk_keeps_the_previous_file(
    trained, eager, tmp_path: Path, monkeypatch
) -> None:
    target = tmp_path / "recs.tsv"
    target.write_text("previous export\n")
    calls = []

    def failing(*, viewer_ids: list[int], topk: int) -> list:
        calls.append(viewer_ids)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return []

    monkeypatch.setattr("recommender.tasks.recommendations_chunk", failing)

    with pytest.raises(RuntimeError, match="worker lost"):
        batch.recommendations_export(output=target, topk=3, chunk_size=25)
    assert target.read_text() == "previous export\n"
    assert list(tmp_path.iterdir()) == [target]


def test_the_command_refuses_a_bad_chunk_size(trained, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--chunk-size must be at least 1, got 0"):
        call_command("recommend", "--all", "--output", str(tmp_path / "r.tsv"), "--chunk-size", "0")


def test_no_viewers_writes_just_the_header(db, eager, tmp_path: Path) -> None:
    assert not Viewer.objects.exists()

    export = batch.recommendations_export(output=tmp_path / "r.tsv", topk=3)

    assert (export.viewers, export.rows, export.chunks) == (0, 0, 0)
    assert (tmp_path / "r.tsv").read_text() == "user_id\titem_id\trank\tscore\n"
