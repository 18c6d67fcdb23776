"""Hostile input: a table of nasty requests with the status each must get.

Generated input (schemathesis with every check, against gunicorn) is
``test_schema_contract.py``.
"""

from __future__ import annotations

import json

import pytest
from api_clients import ingestion_client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingestion.models import Rating


@pytest.fixture
def token(django_user_model) -> str:
    # Writes ratings, may not read viewers: both kinds of answer get checked.
    return Token.objects.create(user=ingestion_client("fuzzer")).key


@pytest.fixture
def api(trained, token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


LONG = "x" * 10_000
SQL = "1; DROP TABLE ingestion_rating; --"
UNICODE = "ドラマ 🎬 \u202e"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/recommend/3?topk=100", 200),
        ("/recommend/3?topk=101", 400),
        ("/recommend/3?topk=99999999999999999999999", 400),
        ("/recommend/3?topk=-5", 400),
        ("/recommend/3?topk=0", 400),
        ("/recommend/3?topk=1e3", 400),
        ("/recommend/3?topk=%00", 400),
        ("/recommend/-1", 404),
        ("/recommend/0", 404),
        ("/recommend/99999999999999999999999", 404),
        ("/recommend/%E4%B8%80", 404),  # a CJK character
        ("/recommend/%D9%A3", 404),  # Arabic-Indic digit three: isdigit() but not ASCII
        (f"/recommend/{SQL}", 404),
        (f"/recommend/{LONG}", 404),
        ("/recommend/999999", 200),  # unknown but well-formed: a cold start
        (f"/recommend/3?genre={UNICODE}", 422),  # well-formed, but no such genre
        (f"/recommend/3?genre={SQL}", 422),
        (f"/recommend/3?genre={LONG}", 400),
        ("/recommend/3?genre=Drama&genre=Drama,Action", 200),
        ("/recommend/3?exclude=-1", 400),
        (f"/recommend/3?exclude={SQL}", 400),
        ("/recommend/3?exclude=" + ",".join(["1"] * 5000), 200),
        (f"/api/movies/?search={SQL}", 200),
        (f"/api/movies/?search={UNICODE}", 200),
        (f"/api/movies/?genre={UNICODE}", 200),
        ("/api/movies/?search=a%00b", 400),
        ("/recommend/3?genre=Drama%00", 400),
        ("/api/movies/?year=abc", 400),
        ("/api/movies/?year_min=1995.5", 400),
        ("/api/movies/?year_max=99999999999999999999", 400),
        ("/api/model-runs/?page=0", 403),  # not staff: refused before the page is read
        ("/api/movies/?page=999999", 404),
        ("/api/movies/-1/", 404),
        ("/api/movies/1/similar/?topk=1000", 400),
        (f"/api/movies/1/similar/?source={SQL}", 400),
        ("/api/users/-1/", 404),
        ("/api/users/99999999999999999999/", 403),  # not staff: refused before any lookup
        ("/api/users/3/", 403),
    ],
)
def test_nasty_reads(api, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    if status >= 400:
        assert response.json()["detail"]
    assert Rating.objects.count() == 60 * 14  # nothing written, nothing dropped


JSON = "application/json"


def _post(api: APIClient, body: bytes, content_type: str = "application/json"):
    return api.generic("POST", "/api/ratings/", body, content_type=content_type)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"user_id": 900, "item_id": 1, "rating": 5}', JSON, 201),
        (b'{"user_id": 3, "item_id": 1, "rating": 5', JSON, 400),
        (b"\xff\xfe not utf-8", JSON, 400),
        (b"[]", JSON, 400),
        (b"null", JSON, 400),
        (b'"a string"', JSON, 400),
        (b'{"user_id": -3, "item_id": 1, "rating": 5}', JSON, 400),
        (b'{"user_id": 1e400, "item_id": 1, "rating": 5}', JSON, 400),
        (b'{"user_id": 3, "item_id": 1, "rating": 5.5}', JSON, 400),
        (b'{"user_id": 3, "item_id": 1, "rating": true}', JSON, 400),
        (b'{"user_id": 99999999999999999999, "item_id": 1, "rating": 5}', JSON, 400),
        (json.dumps({"user_id": SQL, "item_id": 1, "rating": 5}).encode(), JSON, 400),
        (json.dumps({"user_id": UNICODE, "item_id": 1, "rating": 5}).encode(), JSON, 400),
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "rated_at": "yesterday"}', JSON, 400),
        # Well-formed date-times out of range: 422; one past year 9999 in UTC does not parse.
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "rated_at": "0001-01-01T00:00Z"}', JSON, 422),
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "rated_at": "9999-12-31T23:59Z"}', JSON, 422),
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "rated_at": "9999-12-31T23:59-05:00"}',
         JSON, 400),
        (b"user_id=3&item_id=1&rating=4", "text/plain", 415),
        (b"<rating/>", "application/xml", 415),
        (b'{"user_id": 3, "item_id": 1, "rating": 5}', "application/x-www-form-urlencoded", 400),
        (b"[" * 200_000, JSON, 400),  # the decoder's RecursionError
        (b'{"user_id": ' + b'{"a":' * 40_000, JSON, 400),
        (b'{"user_id": 3, "item_id": 1, "rating": ' + b"[" * 900 + b"]" * 900 + b"}", JSON, 400),
        (b"x" * 300_000, JSON, 413),
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "pad": "' + b"x" * 300_000 + b'"}', JSON, 413),
    ],
)  # fmt: skip
def test_nasty_writes(api, body: bytes, content_type: str, status: int) -> None:
    before = Rating.objects.count()
    response = _post(api, body, content_type)
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    if status >= 400:
        assert response.json()["detail"]
        assert Rating.objects.count() == before
    assert Rating.objects.filter(score__gt=5).count() == 0
