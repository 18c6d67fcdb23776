"""The ratings' data version: inserts, updates and deletions all change the snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from movielens_files import TINY_RATINGS, write_grouplens

from ingestion.models import Movie, Rating, Viewer
from ingestion.selectors import rating_snapshot, ratings_changed_since
from ingestion.services import movielens_import, movies_delete, rating_upsert, ratings_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(tiny_dir: Path) -> dict:
    movielens_import(source="path", path=tiny_dir)
    return rating_snapshot()


def test_an_unchanged_reload_is_no_change(loaded, tiny_dir: Path) -> None:
    movielens_import(source="path", path=tiny_dir)
    assert not ratings_changed_since(loaded)


def test_a_reload_with_a_changed_score_is_a_change(loaded, tmp_path: Path) -> None:
    changed = [TINY_RATINGS[0].replace("\t5\t", "\t4\t"), *TINY_RATINGS[1:]]
    movielens_import(source="path", path=write_grouplens(tmp_path / "v2", ratings=changed))

    assert Rating.objects.count() == loaded["ratings"]
    assert ratings_changed_since(loaded)


def test_an_updated_rating_through_the_api_is_a_change(loaded) -> None:
    _, created = rating_upsert(viewer_id=1, movie_id=1, score=2)

    assert not created
    after = rating_snapshot()
    assert (after["ratings"], after["max_rating_id"]) == (
        loaded["ratings"],
        loaded["max_rating_id"],
    )
    assert ratings_changed_since(loaded)


def test_new_and_deleted_ratings_are_changes(loaded) -> None:
    rating_upsert(viewer_id=1, movie_id=4, score=5)
    assert ratings_changed_since(loaded)

    now = rating_snapshot()
    ratings_delete(ratings=Rating.objects.filter(viewer_id=3, movie_id=3))
    assert ratings_changed_since(now)
    assert rating_snapshot()["history_version_total"] > now["history_version_total"]


def test_deleting_a_movie_changes_the_history_of_everyone_who_rated_it(loaded) -> None:
    raters = set(Rating.objects.filter(movie_id=3).values_list("viewer_id", flat=True))
    before = dict(Viewer.objects.values_list("id", "history_version"))

    movies_delete(movies=Movie.objects.filter(id=3))

    after = dict(Viewer.objects.values_list("id", "history_version"))
    assert raters and {v for v in after if after[v] > before[v]} == raters
    assert ratings_changed_since(loaded)


def test_a_deleted_viewer_is_a_change_and_never_reuses_a_version(loaded) -> None:
    old = Viewer.objects.get(id=1).history_version
    Viewer.objects.filter(id=1).delete()
    assert ratings_changed_since(loaded)

    rating_upsert(viewer_id=1, movie_id=1, score=3)

    assert Viewer.objects.get(id=1).history_version > old + 1


def test_a_snapshot_without_a_version_counts_as_changed(loaded) -> None:
    old_style = {key: value for key, value in loaded.items() if key != "history_version_total"}
    assert ratings_changed_since(old_style)
