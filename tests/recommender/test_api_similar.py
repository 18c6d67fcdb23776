"""GET /api/movies/<id>/similar/ from the active run's recall table."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(synthetic_ratings, fast_params) -> ModelRun:
    return model_run_execute(run_id=model_run_create(triggered_by="test", params=fast_params).id)


def test_similar_movies_come_from_the_recall_table(trained) -> None:
    body = APIClient().get("/api/movies/1/similar/", {"topk": 3}).json()

    assert (body["item_id"], body["model_run"]) == (1, trained.id)
    assert len(body["similar"]) == 3
    assert all(movie["source"] == "itemknn" for movie in body["similar"])
    assert all(movie["item_id"] <= 20 for movie in body["similar"])  # same taste group
    scores = [movie["score"] for movie in body["similar"]]
    assert scores == sorted(scores, reverse=True)


def test_another_source_can_be_asked_for(trained) -> None:
    body = APIClient().get("/api/movies/1/similar/", {"source": "ease"}).json()
    assert {movie["source"] for movie in body["similar"]} == {"ease"}


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        (
            {"source": "magic"},
            422,  # well-formed, but this run has no such table
            "source: unknown source 'magic'; this run has: cooccurrence, ease",
        ),
        ({"topk": "0"}, 400, "topk: must be an integer between 1 and 100"),
    ],
)
def test_bad_parameters(trained, query: dict, status: int, detail: str) -> None:
    response = APIClient().get("/api/movies/1/similar/", query)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_without_a_model_the_list_is_empty(synthetic_ratings) -> None:
    body = APIClient().get("/api/movies/1/similar/").json()
    assert body == {"item_id": 1, "model_run": None, "similar": []}


def test_unknown_movie_is_404(synthetic_ratings) -> None:
    assert APIClient().get("/api/movies/999/similar/").status_code == 404


@pytest.mark.parametrize("query", [{}, {"source": "ease", "topk": 100}, {"source": "magic"}])
def test_similar_movies_cost_a_few_index_probes(trained, query: dict) -> None:
    """Anyone may call this: no query may read the run's recall table beyond one movie or
    one source (a DISTINCT over the run's rows read ~135,000 rows on MovieLens-100k)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = APIClient().get("/api/movies/1/similar/", query)
    assert response.status_code in (200, 422)
    neighbor_queries = [q["sql"] for q in captured if "recommender_itemneighbor" in q["sql"]]
    assert neighbor_queries
    for sql in neighbor_queries:
        assert "DISTINCT" not in sql.upper(), sql
        where = sql.split("WHERE", 1)[1]
        assert '"source"' in where, sql  # the (run, source, …) index, never the whole run
        assert "ORDER BY" not in sql or '"rank"' in sql.split("ORDER BY", 1)[1], sql
    # Movie, active run, neighbors (+ one probe per configured source on an unknown one).
    assert len(captured) <= 4 + 4 * ("source" in query and query["source"] == "magic")
