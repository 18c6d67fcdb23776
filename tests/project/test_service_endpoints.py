"""The service's own endpoints: info, liveness, the OpenAPI schema and Swagger UI."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

import videorec_site


@pytest.mark.django_db
def test_service_info_reports_version_and_data_counts(client, tiny_dir: Path) -> None:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    cache.clear()

    body = client.get("/", HTTP_ACCEPT="application/json").json()

    assert body["version"] == videorec_site.__version__
    assert body["data"] == {"genres": 19, "movies": 4, "viewers": 3, "ratings": 6}
    assert body["model_run"] is None
    assert body["links"]["docs"] == "http://testserver/docs"


def test_healthz_touches_no_database(client) -> None:
    # No django_db mark: any query would raise "Database access not allowed".
    response = client.get("/healthz", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_openapi_schema_lists_the_endpoints(client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["version"] == videorec_site.__version__
    assert {"/", "/healthz"} <= set(schema["paths"])


@pytest.mark.django_db
def test_schema_is_valid_and_documents_every_endpoint(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in (
        "/recommend/{user_id}:", "/api/ratings/:", "/api/movies/:", "/api/movies/{id}/:",
        "/api/movies/{movie_id}/similar/:", "/api/users/{user_id}/:", "/readyz:", "/healthz:",
    ):  # fmt: skip
        assert f"  {path}" in text
    assert "'400':" in text and "'404':" in text


@pytest.mark.django_db
def test_swagger_ui_uses_local_assets(client) -> None:
    page = client.get("/docs").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()


@pytest.mark.django_db
def test_anonymous_clients_are_throttled(client, monkeypatch) -> None:
    from rest_framework.throttling import AnonRateThrottle

    cache.clear()
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/minute"})
    statuses = [client.get("/", HTTP_ACCEPT="application/json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    cache.clear()
