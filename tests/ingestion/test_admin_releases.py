"""The admin on a later release: links and tags on the movie page, half-star ratings."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from movielens_releases import write_csv_release

from ingestion.models import Rating, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def csv_data(tmp_path: Path) -> None:
    call_command("loadmovielens", str(write_csv_release(tmp_path / "ml-25m")), stdout=None)


def test_movie_page_links_imdb_and_tmdb_and_shows_tags(staff_client, csv_data) -> None:
    page = staff_client.get(reverse("admin:ingestion_movie_change", args=[11])).content.decode()

    assert 'href="https://www.imdb.com/title/tt0112346/"' in page
    assert 'href="https://www.themoviedb.org/movie/9087"' in page
    assert "politics, romance (1)" in page


def test_tags_have_their_own_list(staff_client, csv_data) -> None:
    response = staff_client.get(reverse("admin:ingestion_tag_changelist"), {"q": "Paris"})

    assert response.status_code == 200
    assert [tag.text for tag in response.context["cl"].result_list] == ["Paris"]
    tag = Tag.objects.get(text="Paris")
    assert staff_client.get(reverse("admin:ingestion_tag_change", args=[tag.pk])).status_code == 200


def test_a_half_star_rating_is_edited_in_the_admin(staff_client, csv_data) -> None:
    rating = Rating.objects.get(viewer_id=1, movie_id=11)
    url = reverse("admin:ingestion_rating_change", args=[rating.pk])
    assert 'value="3.5" selected' in staff_client.get(url).content.decode()

    response = staff_client.post(
        url, {"score": "4.5", "rated_at_0": "2000-07-30", "rated_at_1": "18:00:47"}
    )

    assert response.status_code == 302, response.content
    rating.refresh_from_db()
    assert rating.score == 4.5


def test_the_dashboard_histogram_shows_half_stars_when_the_data_has_them(csv_data) -> None:
    from ingestion.overview import data_overview

    histogram = data_overview().score_histogram

    assert list(histogram) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert (histogram[0.5], histogram[3.5], histogram[1.0]) == (1, 1, 0)


def test_the_movie_api_links_imdb_and_tmdb(client, csv_data) -> None:
    movie = client.get("/api/movies/1/").json()

    assert movie["imdb_url"] == "https://www.imdb.com/title/tt0114709/"
    assert movie["tmdb_url"] == "https://www.themoviedb.org/movie/862"


def test_tags_are_available_as_a_content_feature(csv_data) -> None:
    from ingestion.selectors import movie_tags_frame

    tags = movie_tags_frame()

    assert tags.values.tolist() == [
        [1, "funny", 1],
        [11, "politics, romance", 1],
        [193609, "Paris", 1],
    ]
