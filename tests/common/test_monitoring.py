"""Observability: who may read /metrics, and the JSON request log."""

from __future__ import annotations

import json
import logging
from logging.config import DictConfigurator

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote_addr", "authorization", "networks", "status"),
    [
        ("127.0.0.1", "", None, 200),
        ("::1", "", None, 200),
        ("203.0.113.7", "", None, 403),
        ("10.1.2.3", "", None, 403),
        ("10.1.2.3", "", ["127.0.0.0/8", "10.0.0.0/8"], 200),
        ("203.0.113.7", "Bearer scrape-token", None, 200),
        ("203.0.113.7", "Bearer wrong-token", None, 403),
    ],
)
def test_metrics_are_served_to_allowed_networks_or_a_token(
    settings, remote_addr: str, authorization: str, networks: list | None, status: int
) -> None:
    settings.VIDEOREC_METRICS_TOKEN = "scrape-token"
    if networks is not None:
        settings.VIDEOREC_METRICS_ALLOWED_NETWORKS = networks
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Client(REMOTE_ADDR=remote_addr).get("/metrics", **headers)
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"detail": "metrics are not served to this client"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED", "HTTP_X_REAL_IP"],
)
def test_through_a_proxy_on_the_same_host_only_the_token_opens_metrics(settings, header) -> None:
    settings.VIDEOREC_METRICS_TOKEN = "scrape-token"
    relayed = Client(REMOTE_ADDR="127.0.0.1", **{header: "203.0.113.7"})

    assert relayed.get("/metrics").status_code == 403
    response = relayed.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert response.status_code == 200


@pytest.mark.django_db
def test_no_token_configured_means_no_token_accepted(settings) -> None:
    settings.VIDEOREC_METRICS_TOKEN = ""
    response = Client(REMOTE_ADDR="203.0.113.7").get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


@pytest.mark.django_db
def test_every_request_is_one_json_log_line(caplog, settings) -> None:
    caplog.set_level(logging.INFO, logger="videorec.request")
    Client().get("/healthz?probe=1")
    (record,) = [r for r in caplog.records if r.name == "videorec.request"]
    # The formatter exactly as the LOGGING setting configures it for production.
    formatter = DictConfigurator({}).configure_formatter(
        dict(settings.LOGGING["formatters"]["json"])
    )
    line = formatter.format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert {
        "logger": "videorec.request",
        "level": "INFO",
        "message": "GET /healthz 200",
        "method": "GET",
        "path": "/healthz",
        "query": "probe=1",
        "status": 200,
        "remote_addr": "127.0.0.1",
    }.items() <= document.items()
    assert document["duration_ms"] >= 0 and document["bytes"] > 0
