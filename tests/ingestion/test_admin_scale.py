"""The admin at scale, exercised at small size: estimated counts above a threshold,
per-row rating counts computed for the page only, the dashboard's stored overview."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from ingestion import overview, selectors
from ingestion.admin import EstimatedCountPaginator
from ingestion.models import DataOverviewSnapshot, Movie, Rating, Viewer
from ingestion.overview import data_overview, overview_aggregate
from ingestion.services import data_overview_refresh

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:ingestion_rating_changelist",
    "admin:ingestion_viewer_changelist",
    "admin:ingestion_movie_changelist",
    "admin:recommender_itemneighbor_changelist",
]


@pytest.fixture
def estimating(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every list counts as "large": PostgreSQL answers with the planner's estimate."""
    monkeypatch.setattr(selectors, "EXACT_COUNT_UP_TO", -1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE ingestion_rating")


@pytest.mark.parametrize("url", CHANGELISTS)
def test_changelists_render_with_the_estimated_count_paginator(
    staff_client, synthetic_ratings, estimating, url: str
) -> None:
    response = staff_client.get(reverse(url))

    assert response.status_code == 200
    assert isinstance(response.context["cl"].paginator, EstimatedCountPaginator)


def test_the_paginator_estimates_on_postgresql_and_counts_elsewhere(
    synthetic_ratings, estimating
) -> None:
    count = EstimatedCountPaginator(Rating.objects.filter(score=5).order_by("-id"), 50).count

    exact = Rating.objects.filter(score=5).count()
    if connection.vendor == "postgresql":
        assert count == selectors.planner_row_estimate(Rating.objects.filter(score=5)) > 0
    else:
        assert count == exact == 720


def test_small_lists_are_counted_exactly(synthetic_ratings) -> None:
    assert EstimatedCountPaginator(Rating.objects.filter(score=5).order_by("id"), 50).count == 720


def test_viewer_and_movie_lists_show_each_rows_ratings(staff_client, synthetic_ratings) -> None:
    viewers = staff_client.get(reverse("admin:ingestion_viewer_changelist")).context["cl"]
    movies = staff_client.get(reverse("admin:ingestion_movie_changelist")).context["cl"]

    for viewer in viewers.result_list:
        assert viewer.rating_count == Rating.objects.filter(viewer=viewer).count() == 14
    for movie in movies.result_list:
        scores = list(Rating.objects.filter(movie=movie).values_list("score", flat=True))
        assert movie.rating_count == len(scores)
        assert movie.mean_score == pytest.approx(sum(scores) / len(scores))


def test_a_viewer_without_ratings_shows_zero(staff_client, synthetic_ratings) -> None:
    Viewer.objects.create(id=999)
    cl = staff_client.get(reverse("admin:ingestion_viewer_changelist"), {"q": "999"}).context["cl"]
    assert [viewer.rating_count for viewer in cl.result_list] == [0]


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ratings table counts as too large to aggregate on a page view."""
    monkeypatch.setattr(overview, "LIVE_OVERVIEW_MAX_RATINGS", -1)


def test_a_large_table_without_a_snapshot_shows_counts_only(
    staff_client, synthetic_ratings, large
) -> None:
    shown = data_overview()

    assert shown.pending and shown.most_rated == [] and shown.counts["ratings"] == 840
    html = staff_client.get(reverse("admin-dashboard")).content.decode()
    assert "refreshdataoverview" in html


def test_a_large_table_shows_the_stored_overview_with_live_counts(
    staff_client, synthetic_ratings, large
) -> None:
    snapshot = data_overview_refresh()
    Movie.objects.create(id=500, title="Added since")
    cache.clear()  # the counts' own short cache

    shown = data_overview()

    live = overview_aggregate(top=overview.OVERVIEW_TOP, min_ratings=overview.OVERVIEW_MIN_RATINGS)
    assert shown == replace(live, as_of=snapshot.computed_at)
    assert shown.counts["movies"] == Movie.objects.count()
    assert DataOverviewSnapshot.objects.count() == 1
    html = staff_client.get(reverse("admin-dashboard")).content.decode()
    assert "as of" in html and "Most-rated movies" in html


def test_each_load_stores_a_fresh_overview(tiny_dir) -> None:
    from django.core.management import call_command

    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    first = DataOverviewSnapshot.objects.get()
    call_command("refreshdataoverview", stdout=None)

    second = DataOverviewSnapshot.objects.get()
    assert second.computed_at > first.computed_at
    assert second.document == first.document
