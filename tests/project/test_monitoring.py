"""Observability: who may read /metrics, what it holds, and the JSON request log."""

from __future__ import annotations

import json
import logging
from logging.config import DictConfigurator

import pytest
from django.test import Client

from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute
from videorec_site.monitoring import RECOMMENDATION_SECONDS


def metric(text: str, name: str, default: float | None = None) -> float:
    lines = [line for line in text.splitlines() if line.startswith(name + " ")]
    if not lines and default is not None:
        return default  # a labelled series appears with its first observation
    (line,) = lines
    return float(line.split()[-1])


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
def test_metrics_hold_requests_database_cache_recommendations_and_model_runs(
    synthetic_ratings, fast_params
) -> None:
    client = Client()
    histogram = 'videorec_recommendation_seconds_count{cold_start="false",model="trained"}'
    before_text = client.get("/metrics").content.decode()
    assert metric(before_text, "videorec_active_model_run_id") == 0
    assert metric(before_text, 'videorec_model_runs{status="succeeded"}') == 0

    run = model_run_execute(run_id=model_run_create(triggered_by="test", params=fast_params).id)
    ModelRun.objects.create(status=ModelRun.Status.FAILED)
    before = RECOMMENDATION_SECONDS.labels(cold_start="false", model="trained")._sum.get()
    for _ in range(3):
        assert client.get("/recommend/3").status_code == 200
    assert client.get("/recommend/999").status_code == 200  # a cold start
    assert client.get("/recommend/3?topk=0").status_code == 400  # not timed

    text = client.get("/metrics").content.decode()
    assert metric(text, "videorec_active_model_run_id") == run.id
    assert metric(text, "videorec_active_model_ndcg_at_10") == pytest.approx(
        run.metrics["system"]["ndcg@10"]
    )
    assert metric(text, 'videorec_model_runs{status="succeeded"}') == 1
    assert metric(text, 'videorec_model_runs{status="failed"}') == 1
    assert metric(text, histogram) - metric(before_text, histogram, default=0.0) == 3
    assert RECOMMENDATION_SECONDS.labels(cold_start="false", model="trained")._sum.get() > before
    assert 'videorec_recommendation_seconds_count{cold_start="true",model="trained"}' in text
    # django-prometheus: requests by view, database queries, cache lookups.
    assert (
        'django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="recommend"}'
        in text
    )
    assert "django_db_execute_total" in text
    assert "django_cache_get_total" in text


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
