"""GET /recommend/<user_id>: the contract, every bad input, and real-time updates."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingestion.models import Rating
from recommender.services.training import model_run_create, model_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_recommendations_follow_the_contract(api, trained) -> None:
    response = api.get("/recommend/3", {"topk": 5})

    assert response.status_code == 200
    body = response.json()
    assert (body["user_id"], body["model_run"], body["cold_start"]) == (3, trained.id, False)
    assert len(body["recommendations"]) == 5
    first = body["recommendations"][0]
    assert set(first) == {"item_id", "title", "score", "reasons"}
    assert first["title"].startswith("Movie ")
    assert set(first["reasons"][0]) == {"source", "text", "because_item_id"}
    rated = set(Rating.objects.filter(viewer_id=3).values_list("movie_id", flat=True))
    ids = [item["item_id"] for item in body["recommendations"]]
    assert not set(ids) & rated and len(set(ids)) == 5
    again = api.get("/api/recommend/3", {"topk": 5}).json()
    # Every answer has its own request id; the rest is the same answer.
    assert again.pop("request_id") != body.pop("request_id")
    assert again == body


def test_default_topk_is_ten(api, trained) -> None:
    assert len(api.get("/recommend/3").json()["recommendations"]) == 10


def test_posting_a_rating_removes_the_item_from_the_next_answer(api, trained, admin_user) -> None:
    top = api.get("/recommend/3").json()["recommendations"][0]["item_id"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin_user).key}")

    response = api.post("/api/ratings/", {"user_id": 3, "item_id": top, "rating": 4}, format="json")

    assert response.status_code == 201
    after = [item["item_id"] for item in api.get("/recommend/3").json()["recommendations"]]
    assert top not in after


def test_genre_and_exclude_filters(api, trained) -> None:
    drama = api.get("/recommend/3", {"genre": "Drama", "topk": 5}).json()["recommendations"]
    assert drama and all(item["item_id"] > 20 for item in drama)  # movies 21–40 are dramas
    both = api.get("/recommend/3", {"genre": "Drama,Action", "topk": 5}).json()
    assert len(both["recommendations"]) == 5
    top = api.get("/recommend/3").json()["recommendations"][0]["item_id"]
    excluded = api.get("/recommend/3", {"exclude": str(top)}).json()["recommendations"]
    assert top not in [item["item_id"] for item in excluded]


def test_unknown_viewer_is_a_cold_start(api, trained) -> None:
    body = api.get("/recommend/4242", {"topk": 3}).json()
    assert (body["cold_start"], body["model_run"], len(body["recommendations"])) == (
        True,
        trained.id,
        3,
    )


def test_before_any_training_popularity_is_served(api, synthetic_ratings) -> None:
    response = api.get("/recommend/3", {"topk": 4})
    assert response.status_code == 200
    assert response.json()["model_run"] is None
    assert len(response.json()["recommendations"]) == 4


@pytest.mark.parametrize("user_id", ["abc", "-5", "0", "1.5", "٣", "99999999999"])
def test_non_integer_ids_are_404_json(api, synthetic_ratings, user_id: str) -> None:
    response = api.get(f"/recommend/{user_id}")
    assert response.status_code == 404
    assert "positive integers" in response.json()["detail"]


@pytest.mark.parametrize("topk", ["-5", "0", "101", "ten", "1e3", "", "9" * 2000])
def test_topk_outside_the_range_is_400(api, synthetic_ratings, topk: str) -> None:
    response = api.get("/recommend/3", {"topk": topk})
    assert response.status_code == 400
    assert response.json()["detail"] == "topk: must be an integer between 1 and 100"


def test_unknown_genre_is_named(api, synthetic_ratings) -> None:
    response = api.get("/recommend/3", {"genre": "Drama,Telenovela"})
    # Well-formed, but names nothing: 422, as the schema says.
    assert response.status_code == 422
    assert response.json()["detail"].startswith("genre: unknown genre 'Telenovela'")


def test_bad_exclude_is_400(api, synthetic_ratings) -> None:
    response = api.get("/recommend/3", {"exclude": "12,x"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("exclude.1:")


def test_readyz_reflects_the_model(
    api, synthetic_ratings, fast_params, django_capture_on_commit_callbacks
) -> None:
    assert api.get("/readyz").status_code == 503
    with django_capture_on_commit_callbacks(execute=True):  # the activation announces itself
        model_run_execute(run_id=model_run_create(triggered_by="test", params=fast_params).id)
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_service_info_names_the_serving_run(api, trained) -> None:
    body = api.get("/", HTTP_ACCEPT="application/json").json()
    assert body["model_run"]["id"] == trained.id
    assert body["model_run"]["metrics"]["ndcg@10"] == trained.metrics["system"]["ndcg@10"]


@pytest.mark.parametrize(
    "path", ["/recommend/3", "/api/movies/", "/api/movies/1/", "/api/users/3/", "/api/ratings/"]
)
def test_every_endpoint_has_the_browsable_api(admin_client, synthetic_ratings, path: str) -> None:
    response = admin_client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 405)  # /api/ratings/ only takes POST
    assert "Django REST framework" in response.content.decode()


def test_recommendations_without_a_model_do_not_count_the_ratings_per_request(
    api, synthetic_ratings
) -> None:
    """Before the first training popularity is counted from the ratings: once, not for
    every anonymous request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert api.get("/recommend/3").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        for viewer in (3, 4, 999_999):
            assert api.get(f"/recommend/{viewer}").status_code == 200
    counting = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert counting == []
