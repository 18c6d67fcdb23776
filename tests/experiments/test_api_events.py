"""POST /api/events/: per-event validation by index, idempotent retries, permissions,
dislikes that take effect at once, and the counts on /metrics."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission

from experiments.models import Event
from experiments.monitoring import event_collector
from ingestion.models import Viewer

pytestmark = pytest.mark.django_db


def post(client, events):
    return client.post("/api/events/", {"events": events}, format="json")


def test_good_events_are_stored_and_bad_ones_reported_by_index(ingest_api, synthetic_ratings):
    request_id = str(uuid.uuid4())
    response = post(
        ingest_api,
        [
            {"type": "click", "user_id": 3, "item_id": 5, "request_id": request_id},
            {"type": "scroll", "user_id": 3, "item_id": 5},
            {"type": "watch", "user_id": 3, "item_id": 999, "value": 120.0},
            None,
            {"type": "like", "user_id": 4, "item_id": 6, "timestamp": "2999-01-01T00:00:00Z"},
            {"type": "like", "user_id": 4, "item_id": 6, "colour": "red"},
            {"type": "watch", "user_id": 4, "item_id": 7, "value": 30.5, "event_id": "a-1"},
        ],
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 5)
    problems = {(error["index"], error["field"]) for error in body["errors"]}
    assert problems == {(1, "type"), (2, "item_id"), (3, ""), (4, "timestamp"), (5, "colour")}
    assert (
        "movie 999 does not exist" in next(e for e in body["errors"] if e["index"] == 2)["problem"]
    )
    stored = Event.objects.order_by("id")
    assert [(e.type, e.user_id, e.item_id) for e in stored] == [("click", 3, 5), ("watch", 4, 7)]
    assert str(stored[0].request_id) == request_id and stored[1].value == 30.5


def test_a_retried_batch_stores_nothing_twice(ingest_api, synthetic_ratings):
    batch = [
        {"type": "click", "user_id": 3, "item_id": 5, "event_id": "e1"},
        {"type": "click", "user_id": 3, "item_id": 6, "event_id": "e2"},
        {"type": "click", "user_id": 3, "item_id": 6, "event_id": "e2"},  # repeated inside
        {"type": "click", "user_id": 3, "item_id": 7},  # no key: stored each time
    ]
    first = post(ingest_api, batch).json()
    again = post(ingest_api, batch).json()

    assert (first["accepted"], first["duplicates"], first["rejected"]) == (3, 1, 0)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (1, 3, 0)
    assert Event.objects.filter(event_id__isnull=False).count() == 2


def test_a_malformed_batch_is_a_400_and_stores_nothing(ingest_api, synthetic_ratings):
    one = {"type": "click", "user_id": 3, "item_id": 5}
    assert post(ingest_api, [one] * 1001).status_code == 400
    assert ingest_api.post("/api/events/", [one] * 1001, format="json").status_code == 400
    assert ingest_api.post("/api/events/", {"events": "click"}, format="json").status_code == 400
    assert (
        ingest_api.post("/api/events/", {"events": [one], "x": 1}, format="json").status_code == 400
    )
    assert not Event.objects.exists()


def test_a_bare_array_is_the_same_batch(ingest_api, synthetic_ratings):
    response = ingest_api.post(
        "/api/events/",
        [
            {"type": "click", "user_id": 3, "item_id": 5},
            {"type": "nod", "user_id": 3, "item_id": 5},
        ],
        format="json",
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["accepted"], body["rejected"], body["errors"][0]["index"]) == (1, 1, 1)
    assert Event.objects.get().type == "click"


def test_events_need_the_rating_write_permissions(api, django_user_model, synthetic_ratings):
    one = [{"type": "click", "user_id": 3, "item_id": 5}]
    assert post(api, one).status_code == 401
    reader = django_user_model.objects.create_user("reader", password="pw")
    api.force_authenticate(reader)
    assert post(api, one).status_code == 403
    reader.user_permissions.set(
        Permission.objects.filter(codename__in=["add_rating", "change_rating"])
    )
    api.force_authenticate(django_user_model.objects.get(id=reader.id))
    assert post(api, one).status_code == 202


def test_a_dislike_leaves_the_movie_out_of_the_next_answer(api, ingest_api, trained):
    before = api.get("/recommend/3", {"topk": 5}).json()["recommendations"]
    top = before[0]["item_id"]
    api.get("/recommend/3", {"topk": 5})  # the answer is cached now

    response = post(ingest_api, [{"type": "dislike", "user_id": 3, "item_id": top}])

    assert response.json()["accepted"] == 1
    after = [
        item["item_id"] for item in api.get("/recommend/3", {"topk": 5}).json()["recommendations"]
    ]
    assert top not in after and len(after) == 5
    # Other viewers are not affected.
    assert api.get("/recommend/4", {"topk": 5}).status_code == 200


def test_a_dislike_by_an_unknown_viewer_needs_the_add_viewer_permission(
    ingest_api, django_user_model, synthetic_ratings
):
    dislike = [{"type": "dislike", "user_id": 777, "item_id": 5}]
    limited = django_user_model.objects.create_user("limited", password="pw")
    limited.user_permissions.set(
        Permission.objects.filter(codename__in=["add_rating", "change_rating"])
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(django_user_model.objects.get(id=limited.id))
    refused = post(client, dislike).json()
    assert refused["rejected"] == 1 and refused["errors"][0]["field"] == "user_id"
    assert not Viewer.objects.filter(id=777).exists()

    assert post(ingest_api, dislike).json()["accepted"] == 1
    assert Viewer.objects.filter(id=777).exists()


def test_stored_events_are_counted_for_metrics(ingest_api, synthetic_ratings):
    post(ingest_api, [{"type": "click", "user_id": 3, "item_id": 5}] * 2)
    post(ingest_api, [{"type": "like", "user_id": 3, "item_id": 5}])

    (stored, running) = list(event_collector.collect())

    counts = {sample.labels["type"]: sample.value for sample in stored.samples}
    assert counts == {"click": 2, "watch": 0, "like": 1, "dislike": 0}
    assert running.samples[0].value == 0
