"""Browsing: /api/movies/ (filters, search, detail) and /api/users/<id>/."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tiny_dir: Path) -> APIClient:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    return APIClient()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [movie["item_id"] for movie in response.json()["results"]]


def test_movies_are_paginated_and_described(api) -> None:
    body = api.get("/api/movies/").json()
    assert body["count"] == 4
    assert body["results"][0] == {
        "item_id": 1,
        "title": "Toy Story (1995)",
        "year": 1995,
        "release_date": "1995-01-01",
        "imdb_url": "http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)",
        "tmdb_url": "",
        "genres": ["Animation", "Children's", "Comedy"],
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"genre": "thriller"}, [2, 3]),
        ({"year": 1942}, [4]),
        ({"year_min": 1990, "year_max": 1999}, [1, 2, 3]),
        ({"search": "rooms"}, [3]),
        ({"genre": "Thriller", "search": "golden"}, [2]),
    ],
)
def test_movie_filters(api, query: dict, expected: list[int]) -> None:
    assert ids(api.get("/api/movies/", query)) == expected


def test_movie_detail_and_missing_movie(api) -> None:
    assert api.get("/api/movies/4/").json()["title"] == "Casablanca (1942)"
    missing = api.get("/api/movies/999/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No Movie matches the given query."}


def test_bad_year_is_400(api) -> None:
    response = api.get("/api/movies/", {"year": "soon"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("year:")


def test_viewer_with_paginated_ratings(api, admin_user) -> None:
    api.force_authenticate(admin_user)
    body = api.get("/api/users/2/").json()
    assert (body["user_id"], body["age"], body["gender"]) == (2, 53, "F")
    assert body["ratings"]["count"] == 2
    assert [r["item_id"] for r in body["ratings"]["results"]] == [4, 1]  # newest first
    assert body["ratings"]["results"][0]["title"] == "Casablanca (1942)"
    assert api.get("/api/users/77/").status_code == 404
