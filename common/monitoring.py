"""Observability: one structured log line per request, and the Prometheus ``/metrics`` page.

django-prometheus supplies the request, database and cache metrics (its middleware and
backend wrappers are wired in the settings). This module adds a latency histogram of
recommendations, the view that serves every metric, and who may read it. Apps add
collectors that read the database at scrape time with :func:`register_scrape_collector`
(the recommender's model-run gauges: ``recommender.monitoring``).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import multiprocess
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


#: Collectors that read shared state (the database) when scraped rather than keeping
#: per-process values: in multi-process mode each scrape registers them once more.
_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Serve ``collector``'s metrics on ``/metrics``; registering it again does nothing.

    It must implement ``describe()``: otherwise registering calls ``collect()``, which
    would query the database while the app registry is still being set up.
    """
    if collector in _scrape_collectors:
        return
    prometheus_client.REGISTRY.register(collector)
    _scrape_collectors.append(collector)


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
        for collector in _scrape_collectors:
            registry.register(collector)
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
