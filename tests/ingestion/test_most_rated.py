"""The most-rated list served before any trained run: read from the data overview's
snapshot on a large table, with the ratings added since counted in, not counted per view."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from ingestion import overview
from ingestion.models import DataOverviewSnapshot, Rating, Viewer
from ingestion.overview import most_rated_counts
from ingestion.services import data_overview_refresh, rating_upsert, ratings_delete
from recommender.services.serving import recommendations_for_viewers

pytestmark = pytest.mark.django_db


def counted(limit: int = 40) -> list[tuple[int, int]]:
    """The grouped count the snapshot spares: what the list must equal."""
    return list(
        Rating.objects.values("movie_id")
        .annotate(n=Count("id"))
        .order_by("-n", "movie_id")
        .values_list("movie_id", "n")[:limit]
    )


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch, synthetic_ratings) -> None:
    """The ratings table counts as large; its snapshot is stored, as a load does."""
    monkeypatch.setattr(overview, "LIVE_OVERVIEW_MAX_RATINGS", -1)
    data_overview_refresh()


def test_a_large_table_reads_the_snapshot_not_every_rating(large) -> None:
    with CaptureQueriesContext(connection) as queries:
        listed = most_rated_counts(limit=40)

    assert listed == counted()
    grouped = [q["sql"] for q in queries if "GROUP BY" in q["sql"]]
    assert len(grouped) == 1 and '"id" >' in grouped[0]  # the ratings added since only


def test_ratings_added_through_the_api_count_at_once(large) -> None:
    third = counted()[2][0]
    raters = set(Rating.objects.filter(movie_id=third).values_list("viewer_id", flat=True))
    for viewer in [v for v in Viewer.objects.values_list("id", flat=True) if v not in raters][:5]:
        rating_upsert(viewer_id=viewer, movie_id=third, score=4.0)
    rating_upsert(viewer_id=999_001, movie_id=third, score=3.0)  # a new viewer too

    assert most_rated_counts(limit=40) == counted()
    assert most_rated_counts(limit=1)[0][0] == third


def test_deleted_ratings_count_until_the_next_snapshot(large) -> None:
    top, n = counted()[0]
    ratings_delete(ratings=Rating.objects.filter(movie_id=top))

    assert most_rated_counts(limit=40)[0] == (top, n)  # stale: the documented bound
    data_overview_refresh()  # each load, and `manage.py refreshdataoverview`
    assert most_rated_counts(limit=40) == counted()


def test_each_load_stores_the_list(tiny_dir, monkeypatch) -> None:
    from django.core.management import call_command

    monkeypatch.setattr(overview, "LIVE_OVERVIEW_MAX_RATINGS", -1)
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)

    assert DataOverviewSnapshot.objects.get().document["most_rated_counts"]
    assert most_rated_counts(limit=10) == counted(10)


def test_small_tables_older_snapshots_and_long_lists_are_counted(
    synthetic_ratings, monkeypatch
) -> None:
    assert most_rated_counts(limit=40) == counted()  # small: no snapshot needed
    monkeypatch.setattr(overview, "LIVE_OVERVIEW_MAX_RATINGS", -1)
    snapshot = data_overview_refresh()
    del snapshot.document["most_rated_counts"], snapshot.document["last_rating_id"]
    snapshot.save()
    assert most_rated_counts(limit=40) == counted()
    assert most_rated_counts(limit=overview.MOST_RATED_STORED + 1) == counted(10_000)


def test_the_cold_start_list_before_training_follows_api_ratings(large) -> None:
    least = counted()[-1][0]
    for viewer in range(1, 61):
        rating_upsert(viewer_id=viewer, movie_id=least, score=5.0)
    cache.clear()  # the list's own minute of cache

    (answer,) = recommendations_for_viewers(viewer_ids=[999_002], topk=3)

    assert answer.model_run is None and answer.cold_start
    assert answer.recommendations[0].item_id == least
