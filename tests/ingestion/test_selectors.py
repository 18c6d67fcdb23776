"""Reads that feed the engine: what was loaded comes back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from ingestion import selectors
from ingestion.sources.grouplens import read_grouplens_folder

pytestmark = pytest.mark.django_db


def test_frames_round_trip_the_loaded_files(tiny_dir: Path) -> None:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    data = read_grouplens_folder(tiny_dir)

    ratings = selectors.ratings_frame().sort_values(["user_id", "item_id"], ignore_index=True)
    expected = (
        data.ratings.rename(
            columns={"viewer_id": "user_id", "movie_id": "item_id", "score": "rating"}
        )
        .sort_values(["user_id", "item_id"], ignore_index=True)
        .astype({"rating": "float32"})
    )
    assert ratings.to_dict("list") == expected.to_dict("list")
    movies = selectors.movies_frame().set_index("item_id")
    assert movies.loc[1, "genres"] == ("Animation", "Children's", "Comedy")
    assert movies.loc[4, "year"] == 1942.0
    assert selectors.viewers_frame().set_index("user_id").loc[2, "zip_code"] == "94043"


def test_ratings_frame_filters(tiny_dir: Path) -> None:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    assert set(selectors.ratings_frame(viewer_ids=[2])["user_id"]) == {2}
    snapshot = selectors.rating_snapshot()
    assert snapshot["ratings"] == 6
    assert len(selectors.ratings_frame(max_rating_id=snapshot["max_rating_id"] - 1)) == 5
    assert snapshot["newest_rating_at"].startswith("1998-03-")


def test_empty_database_gives_empty_frames(db) -> None:
    assert selectors.ratings_frame().empty
    assert selectors.rating_snapshot()["max_rating_id"] is None
