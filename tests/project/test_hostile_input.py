"""Hostile input: schemathesis against the live OpenAPI schema, and a table of nasty requests
with the status each must get."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import pytest
import schemathesis
from api_clients import ingestion_client
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingestion.models import Rating
from videorec_site.wsgi import application

#: Generated requests per operation and mode (valid / invalid input); the whole run stays
#: well under a minute.
EXAMPLES_PER_OPERATION = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def token(django_user_model) -> str:
    # Writes ratings, may not read viewers: both kinds of answer get fuzzed.
    return Token.objects.create(user=ingestion_client("fuzzer")).key


@pytest.fixture
def wsgi_application() -> Iterator[WSGIHandler]:
    """The project's WSGI application, inside the test's transaction.

    A WSGI request closes "old" database connections when it starts and ends; inside the
    test's transaction autocommit is off, so the connection would be dropped. Django's
    test client disconnects that handler in the same way.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    trained, token: str, wsgi_application: WSGIHandler
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    started, calls = time.monotonic(), []
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            calls.append(case.operation.label)
            case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid input to generate.
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert time.monotonic() - started < 60
    # Every operation was exercised, with valid and with invalid input.
    assert len(set(calls)) == len(operations)
    assert len(calls) >= len(operations) * EXAMPLES_PER_OPERATION


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
        (f"/recommend/3?genre={UNICODE}", 400),
        (f"/recommend/3?genre={SQL}", 400),
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
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "rated_at": "0001-01-01T00:00Z"}', JSON, 400),
        (b'{"user_id": 3, "item_id": 1, "rating": 5, "rated_at": "9999-12-31T23:59Z"}', JSON, 400),
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
