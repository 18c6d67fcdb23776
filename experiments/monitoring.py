"""Gauges of the experiments app read from the database at scrape time, served on
``/metrics`` (registered by ``ExperimentsConfig.ready()``); the counters of received
events and written impressions are in ``experiments.metrics``."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.cache import cache
from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .models import Event
from .selectors import event_counts, running_experiment_read

#: Counting a large event table is a scan: one count serves every scrape for a minute.
EVENT_COUNTS_CACHE_KEY = "experiments:event-counts"
EVENT_COUNTS_CACHE_SECONDS = 60


class ExperimentCollector(Collector):
    """Stored events by type and the running experiment, read at scrape time."""

    NAMES = ("videorec_events_stored", "videorec_running_experiment_id")

    def describe(self) -> Iterator[Metric]:
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[Metric]:
        try:
            counts = cache.get(EVENT_COUNTS_CACHE_KEY)
            if counts is None:
                counts = event_counts()
                cache.set(EVENT_COUNTS_CACHE_KEY, counts, EVENT_COUNTS_CACHE_SECONDS)
            running = running_experiment_read()
        except DatabaseError:
            return
        stored = GaugeMetricFamily(
            "videorec_events_stored",
            "Feedback events in the database by type (counted at most once a minute).",
            labels=["type"],
        )
        for kind in Event.Type.values:
            stored.add_metric([kind], counts.get(kind, 0))
        yield stored
        yield GaugeMetricFamily(
            "videorec_running_experiment_id",
            "Id of the running experiment (0: none).",
            running.id if running else 0,
        )


#: The one instance ``ExperimentsConfig.ready()`` registers.
event_collector = ExperimentCollector()
