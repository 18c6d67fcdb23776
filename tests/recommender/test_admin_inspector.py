"""Recall-table inspector on the movie and viewer pages of the admin."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from ingestion.models import Rating
from recommender.models import ItemNeighbor
from recommender.services.serving import recommendations_for_viewers

pytestmark = pytest.mark.django_db


def movie_page(client, movie_id: int) -> str:
    return client.get(reverse("admin:ingestion_movie_change", args=[movie_id])).content.decode()


def viewer_page(client, viewer_id: int) -> str:
    return client.get(reverse("admin:ingestion_viewer_change", args=[viewer_id])).content.decode()


def test_movie_page_lists_neighbors_per_source_with_scores(
    staff_client, trained, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(15):
        html = movie_page(staff_client, 1)

    assert f"Run #{trained.pk} · neighbor and score per recall source" in html
    sources = sorted(set(ItemNeighbor.objects.filter(run=trained).values_list("source", flat=True)))
    header = "".join(f"<th>{source}</th>" for source in sources)
    assert f"<th>rank</th>{header}" in html
    for source in sources:
        best = ItemNeighbor.objects.get(run=trained, source=source, movie_id=1, rank=1)
        link = reverse("admin:ingestion_movie_change", args=[best.neighbor_id])
        assert f'<a href="{link}">{best.neighbor.title}</a> <small>{best.score:.3f}</small>' in html
    # Five neighbors per source were published (fast parameters): five rank rows.
    assert re.findall(r"<tr><th>(\d+)</th><td>", html) == ["1", "2", "3", "4", "5"]


def test_movie_page_without_a_model(staff_client, synthetic_ratings) -> None:
    assert "No model is active yet." in movie_page(staff_client, 1)


def test_viewer_page_shows_history_and_current_recommendations(
    staff_client, trained, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(20):
        html = viewer_page(staff_client, 7)

    newest_first = list(
        Rating.objects.filter(viewer_id=7)
        .order_by("-rated_at")
        .values_list("movie__title", "score")
    )
    shown = re.findall(
        r"<tr><td>[\d-]+ [\d:]+</td><td><a href=\"[^\"]+\">([^<]+)</a></td><td>(\d)</td></tr>", html
    )
    assert [(title, int(score)) for title, score in shown] == newest_first
    [expected] = recommendations_for_viewers(viewer_ids=[7], topk=10)
    assert f"From model run #{trained.pk}</p>" in html
    for rank, item in enumerate(expected.recommendations, start=1):
        reason = item.reasons[0]
        assert f"{item.title}</a></td><td>{item.score:.3f}</td><td>{reason.source}</td>" in html
        assert f"<tr><td>{rank}</td>" in html
    assert "Because you rated" in html or "Popular with viewers" in html


def test_viewer_history_is_limited_to_the_latest(staff_client, trained, settings) -> None:
    from recommender import admin as recommender_admin

    html = viewer_page(staff_client, 7)
    rows = re.findall(r"<tr><td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", html)
    assert len(rows) == min(recommender_admin.INSPECTOR_HISTORY, 14)
    assert "latest ratings (up to 20)" in html.lower()


def test_viewer_without_ratings_gets_the_cold_start_list(staff_client, trained) -> None:
    from ingestion.models import Viewer

    Viewer.objects.create(id=999)
    html = viewer_page(staff_client, 999)
    assert "No ratings." in html
    assert f"From model run #{trained.pk} (cold start)" in html
