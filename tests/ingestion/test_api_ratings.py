"""POST /api/ratings/: authentication, create/update, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingestion.models import Rating, Viewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tiny_dir: Path, django_user_model) -> APIClient:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    user = django_user_model.objects.create_user("app", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def post(client: APIClient, **payload):
    return client.post("/api/ratings/", payload, format="json")


def test_create_then_update(api) -> None:
    created = post(api, user_id=1, item_id=3, rating=4)
    assert created.status_code == 201
    assert created.json()["rating"] == 4

    updated = post(api, user_id=1, item_id=3, rating=2)
    assert updated.status_code == 200
    assert Rating.objects.get(viewer_id=1, movie_id=3).score == 2
    assert Rating.objects.filter(viewer_id=1, movie_id=3).count() == 1


def test_a_new_viewer_is_created(api) -> None:
    assert post(api, user_id=5000, item_id=1, rating=5).status_code == 201
    assert Viewer.objects.filter(id=5000).exists()


def test_authentication_is_required(tiny_dir: Path) -> None:
    response = APIClient().post(
        "/api/ratings/", {"user_id": 1, "item_id": 3, "rating": 4}, format="json"
    )
    assert response.status_code == 401
    assert not Rating.objects.filter(movie_id=3, viewer_id=1).exists()


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"user_id": 1, "item_id": 3, "rating": 6}, "rating: Ensure this value is less than"),
        ({"user_id": 1, "item_id": 3, "rating": 0}, "rating: Ensure this value is greater than"),
        ({"user_id": 1, "item_id": 3}, "rating: This field is required."),
        ({"user_id": "x", "item_id": 3, "rating": 3}, "user_id: A valid integer is required."),
        ({"user_id": -1, "item_id": 3, "rating": 3}, "user_id: Ensure this value is greater"),
        ({"user_id": 1, "item_id": 999, "rating": 3}, "item_id: movie 999 does not exist"),
    ],
)
def test_invalid_ratings_are_refused(api, payload: dict, detail: str) -> None:
    before = list(Rating.objects.order_by("id").values_list())
    response = post(api, **payload)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert list(Rating.objects.order_by("id").values_list()) == before


def test_half_stars_are_kept_exactly(api) -> None:
    created = post(api, user_id=1, item_id=3, rating=3.5)
    assert created.status_code == 201
    assert created.json()["rating"] == 3.5
    assert Rating.objects.get(viewer_id=1, movie_id=3).score == 3.5
    assert post(api, user_id=1, item_id=4, rating="0.5").json()["rating"] == 0.5


@pytest.mark.parametrize(
    ("rating", "detail"),
    [
        (3.25, "rating: Ratings go in half-star steps"),
        (3.2, "rating: Ratings go in half-star steps"),
        (5.5, "rating: Ensure this value is less than"),
    ],
)
def test_ratings_off_the_half_star_steps_are_refused(api, rating: float, detail: str) -> None:
    response = post(api, user_id=1, item_id=3, rating=rating)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not Rating.objects.filter(viewer_id=1, movie_id=3).exists()
