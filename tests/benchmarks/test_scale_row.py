"""``benchmarks/scale_row.py``: one row of the scale table in one run, here on a tiny
synthetic release and SQLite (the ml-25m row runs it on PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scale_row import HEADER, markdown_row

from ingestion.synthetic import Shape, write_synthetic_release

REPO = Path(__file__).resolve().parents[2]


def test_a_row_with_skipped_steps_shows_dashes() -> None:
    result = {
        "label": "ml-1m",
        "counts": {"ratings": 1_000_209},
        "load": {"seconds": 35.04, "peak_mb": 548.2},
        "latency": {"median": {"wall_p50_ms": 9.14, "wall_p99_ms": 12.0}, "heavy": None},
        "load_average": [1.0, 2.0, 3.0],
    }

    row = markdown_row(result)

    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == HEADER.splitlines()[0].count("|") - 1
    assert cells[:3] == ["ml-1m", "1,000,209", "35.0 s, 548 MB"]
    assert cells[3:5] == ["–", "–"]  # not trained in this run
    assert cells[5:7] == ["9.1 / 12.0 ms", "–"]  # no viewer with 3,000 ratings
    assert cells[-1] == "1.0/2.0/3.0"


@pytest.mark.slow
def test_load_train_serve_and_admin_in_one_run(tmp_path: Path) -> None:
    release = write_synthetic_release(tmp_path / "tiny", Shape(users=150, movies=300, ratings=6000))
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))},
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    command = [
        sys.executable, str(REPO / "benchmarks" / "scale_row.py"),
        "--database-url", f"sqlite:///{tmp_path / 'db.sqlite3'}", "--folder", str(release),
        "--steps", "load,train,latency,admin", "--requests", "5", "--repeat", "1", "--write",
        "--doc", str(doc),
    ]  # fmt: skip

    output = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)

    assert output.returncode == 0, output.stderr[-3000:]
    result = json.loads(output.stdout.splitlines()[0])
    assert result["counts"] == {"ratings": 6000, "viewers": 150, "movies": 300}
    assert result["load"]["seconds"] > 0 and result["load"]["peak_mb"] > 50
    train = result["train"]
    assert set(train["stages"]) >= {"recall", "ranker"} and train["artifact_mb"] > 0
    assert result["latency"]["median"]["wall_p99_ms"] >= result["latency"]["median"]["wall_p50_ms"]
    assert result["latency"]["heavy"] is None  # nobody rated 3,000 of 300 movies
    assert result["admin"]["slowest"] in result["admin"]["pages"]
    assert "memory" not in result
    text = doc.read_text()
    assert "<!-- scale-row-tiny:begin -->" in text and markdown_row(result) in text
