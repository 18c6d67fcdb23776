"""Observability: one structured log line per request, and the Prometheus ``/metrics`` page.

django-prometheus supplies the request, database and cache metrics (its middleware and
backend wrappers are wired in the settings). This module adds what is specific to
VideoRec: a latency histogram of recommendations, gauges of the model runs (read from the
database when Prometheus scrapes), the view that serves them all, and who may read it.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

request_logger = logging.getLogger("videorec.request")

RECOMMENDATION_SECONDS = prometheus_client.Histogram(
    "videorec_recommendation_seconds",
    "Time to answer GET /recommend/<user_id> (successful answers only).",
    ["cold_start", "model"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe_recommendation(view: Callable[..., Any]) -> Callable[..., Any]:
    """Time a recommendation view; labels come from its answer.

    ``cold_start`` is the answer's flag (a viewer without ratings), ``model`` is
    ``trained`` when a model run ranked it and ``popularity`` before the first training.
    """

    @functools.wraps(view)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = view(*args, **kwargs)
        if response.status_code == 200:
            data = response.data
            RECOMMENDATION_SECONDS.labels(
                cold_start=str(bool(data["cold_start"])).lower(),
                model="trained" if data["model_run"] is not None else "popularity",
            ).observe(time.perf_counter() - started)
        return response

    return timed


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
        # at import time.
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[Metric]:
        from recommender import registry
        from recommender.models import ModelRun

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


_model_runs = ModelRunCollector()
prometheus_client.REGISTRY.register(_model_runs)


#: Set by reverse proxies; their presence means REMOTE_ADDR is the proxy, not the client.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP")


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether this client may read ``/metrics``.

    Either it presents ``Authorization: Bearer <VIDEOREC_METRICS_TOKEN>`` when a token is
    set, or it connects directly from ``VIDEOREC_METRICS_ALLOWED_NETWORKS`` (loopback by
    default). A request relayed by a proxy carries the proxy's address, which on the same
    host is loopback too, so one with forwarding headers needs the token.
    """
    token = settings.VIDEOREC_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and secrets.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.VIDEOREC_METRICS_ALLOWED_NETWORKS
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition of this process (or of all gunicorn workers).

    With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client aggregates the metrics every
    worker process wrote there, so a scrape sees the whole server, not one random worker.
    """
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
        response["Allow"] = "GET, HEAD"
        return response
    if not metrics_allowed(request):
        return JsonResponse({"detail": "metrics are not served to this client"}, status=403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_model_runs)
    else:
        registry = prometheus_client.REGISTRY
    return HttpResponse(
        prometheus_client.generate_latest(registry),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )


class RequestLogMiddleware:
    """One log record per request, with fields a JSON formatter turns into keys.

    Production formats every record as one JSON line (``python-json-logger``), so a request
    is one line: method, path, status, duration, response size and client address.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        status = response.status_code
        request_logger.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "query": request.META.get("QUERY_STRING", ""),
                "status": status,
                "duration_ms": duration_ms,
                "bytes": len(response.content) if not response.streaming else None,
                "remote_addr": request.META.get("REMOTE_ADDR", ""),
            },
        )
        return response
