"""Prometheus gauges of the model runs, served on ``/metrics`` (see ``common.monitoring``).

Registered by ``RecommenderConfig.ready()``: importing this module has no side effect.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import registry
from .models import ModelRun


class ModelRunCollector(Collector):
    """Gauges of the model runs, read from the database at scrape time.

    Read at scrape time rather than kept in process memory, every process (web, worker,
    several hosts) reports the same numbers, and nothing has to update them.
    """

    NAMES = (
        "videorec_model_runs",
        "videorec_active_model_run_id",
        "videorec_active_model_ndcg_at_10",
    )

    def describe(self) -> Iterator[Metric]:
        # Without describe(), registering would call collect() and query the database
        # while the apps are being set up.
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[Metric]:
        try:
            by_status = dict(
                ModelRun.objects.order_by()
                .values_list("status")
                .annotate(count=Count("id"))
                .values_list("status", "count")
            )
            active = registry.active_runs().values_list("id", "metrics").first()
        except DatabaseError:
            # A scrape while the database is away still serves the process metrics;
            # django-prometheus' error counters show the outage.
            return
        runs = GaugeMetricFamily("videorec_model_runs", "Model runs by status.", labels=["status"])
        for status in ModelRun.Status.values:
            runs.add_metric([status], by_status.get(status, 0))
        yield runs
        run_id, metrics = active or (0, {})
        yield GaugeMetricFamily(
            "videorec_active_model_run_id", "Id of the serving model run (0: none).", run_id
        )
        ndcg = metrics.get("system", {}).get("ndcg@10") if active else None
        yield GaugeMetricFamily(
            "videorec_active_model_ndcg_at_10",
            "Offline NDCG@10 of the serving model run (NaN: none or not evaluated).",
            float("nan") if ndcg is None else ndcg,
        )


#: The one instance ``RecommenderConfig.ready()`` registers.
model_run_collector = ModelRunCollector()
