"""/metrics: recommendation latencies and the model-run gauges, next to django-prometheus'
request, database and cache metrics."""

from __future__ import annotations

import pytest
from django.test import Client

from common.monitoring import RECOMMENDATION_SECONDS
from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute


def metric(text: str, name: str, default: float | None = None) -> float:
    lines = [line for line in text.splitlines() if line.startswith(name + " ")]
    if not lines and default is not None:
        return default  # a labelled series appears with its first observation
    (line,) = lines
    return float(line.split()[-1])


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
