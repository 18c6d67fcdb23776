"""Counters kept by the processes that receive events and write impressions (summed over
processes by Prometheus, or by the multi-process registry) and served on ``/metrics``."""

from __future__ import annotations

import prometheus_client

EVENTS_RECEIVED = prometheus_client.Counter(
    "videorec_events_received",
    "Feedback events received by POST /api/events/, by type and outcome.",
    ["type", "outcome"],
)
IMPRESSIONS_WRITTEN = prometheus_client.Counter(
    "videorec_impressions_written", "Served lists recorded as impressions."
)
IMPRESSIONS_LOST = prometheus_client.Counter(
    "videorec_impressions_lost", "Impressions dropped because the database refused them."
)
