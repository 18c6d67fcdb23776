"""POST /api/ratings/: authentication, create/update, validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from api_clients import ingestion_client
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingestion.models import Rating, Viewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tiny_dir: Path, django_user_model) -> APIClient:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    user = ingestion_client("app")
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
    ],
)
def test_invalid_ratings_are_refused(api, payload: dict, detail: str) -> None:
    before = list(Rating.objects.order_by("id").values_list())
    response = post(api, **payload)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert list(Rating.objects.order_by("id").values_list()) == before


@pytest.mark.parametrize(
    "rated_at",
    [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-12-31T00:00:00Z",
        "+1h",  # beyond the allowed clock skew
    ],
)
def test_rating_times_outside_1970_to_now_are_refused(api, rated_at: str) -> None:
    if rated_at == "+1h":
        rated_at = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    response = post(api, user_id=1, item_id=3, rating=4, rated_at=rated_at)
    # A well-formed date-time the schema cannot rule out: unprocessable, not malformed.
    assert response.status_code == 422
    assert response.json()["detail"].startswith("rated_at: must not be")
    assert not Rating.objects.filter(viewer_id=1, movie_id=3).exists()


def test_a_movie_that_does_not_exist_is_unprocessable(api) -> None:
    before = list(Rating.objects.order_by("id").values_list())
    response = post(api, user_id=1, item_id=999, rating=3)
    assert response.status_code == 422
    assert response.json()["detail"] == "item_id: movie 999 does not exist"
    assert response.json()["errors"] == {"item_id": ["movie 999 does not exist"]}
    assert list(Rating.objects.order_by("id").values_list()) == before


def test_an_empty_rating_time_in_a_form_body_is_invalid(api) -> None:
    response = api.post(
        "/api/ratings/",
        {"user_id": 1, "item_id": 3, "rating": 4, "rated_at": ""},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("rated_at: Datetime has wrong format")
    assert not Rating.objects.filter(viewer_id=1, movie_id=3).exists()


@pytest.mark.parametrize("rated_at", ["1970-01-01T00:00:00Z", "+2min", "1998-03-01T12:00:00+01:00"])
def test_rating_times_from_1970_to_now_are_stored(api, rated_at: str) -> None:
    if rated_at == "+2min":  # a client clock a little ahead
        rated_at = (timezone.now() + dt.timedelta(minutes=2)).isoformat()
    response = post(api, user_id=1, item_id=3, rating=4, rated_at=rated_at)
    assert response.status_code == 201, response.json()
    stored = Rating.objects.get(viewer_id=1, movie_id=3).rated_at
    assert stored == dt.datetime.fromisoformat(rated_at.replace("Z", "+00:00"))


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
