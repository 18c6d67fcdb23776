"""The impression buffer: nothing written on the request path, everything by a flush; a
database error keeps the rows for the next flush; results flush first."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError

from experiments.models import Impression
from experiments.services import impressions
from experiments.services.impressions import impressions_flush

pytestmark = pytest.mark.django_db


@pytest.fixture
def buffered(settings):
    """Buffered as in production, with a flusher that never wakes during the test."""
    settings.VIDEOREC_IMPRESSION_FLUSH_SECONDS = 3600
    settings.VIDEOREC_IMPRESSION_BATCH = 10**6
    yield
    impressions_flush()


def test_impressions_wait_in_the_buffer_until_flushed(api, trained, buffered):
    ids = [api.get(f"/recommend/{viewer}").json()["request_id"] for viewer in (3, 4, 5)]

    assert not Impression.objects.exists()
    assert impressions_flush() == 3
    assert set(map(str, Impression.objects.values_list("request_id", flat=True))) == set(ids)
    assert impressions_flush() == 0


def test_a_database_error_keeps_the_rows_for_the_next_flush(
    api, trained, buffered, monkeypatch, caplog
):
    request_id = api.get("/recommend/3").json()["request_id"]
    write = impressions._write

    def refused(rows):
        raise DatabaseError("database is away")

    monkeypatch.setattr(impressions, "_write", refused)
    assert impressions_flush() == 0
    assert "1 kept for the next flush, 0 dropped" in caplog.text
    monkeypatch.setattr(impressions, "_write", write)
    assert impressions_flush() == 1
    assert Impression.objects.filter(request_id=uuid.UUID(request_id)).exists()


def test_results_count_the_lists_still_in_this_process_buffer(staff_api, api, trained, buffered):
    created = staff_api.post(
        "/api/experiments/",
        {
            "name": "buffered",
            "mode": "split",
            "variants": [
                {"name": "a", "strategy": "active", "weight": 1},
                {"name": "b", "strategy": "popularity", "weight": 1},
            ],
        },
        format="json",
    ).json()
    staff_api.post(f"/api/experiments/{created['id']}/start/")
    for viewer in range(1, 11):
        api.get(f"/recommend/{viewer}")

    results = staff_api.get(f"/api/experiments/{created['id']}/results/").json()

    assert sum(variant["impressions"] for variant in results["variants"]) == 10
