"""/api/experiments/ and what /recommend serves while one runs: validation, the
lifecycle, one running at a time, sticky assignment, strategies, interleaving credits."""

from __future__ import annotations

import uuid

import pytest

from experiments.engine.assignment import assign_variant
from experiments.models import Experiment, Impression
from recommender import registry
from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute

pytestmark = pytest.mark.django_db

SPLIT = {
    "name": "ranker vs popularity",
    "mode": "split",
    "variants": [
        {"name": "control", "strategy": "popularity", "weight": 1},
        {"name": "ranker", "strategy": "active", "weight": 1},
    ],
}


def create(client, body=SPLIT):
    return client.post("/api/experiments/", body, format="json")


def started(client, body=SPLIT) -> dict:
    created = create(client, body)
    assert created.status_code == 201, created.json()
    answer = client.post(f"/api/experiments/{created.json()['id']}/start/")
    assert answer.status_code == 200, answer.json()
    return answer.json()


def test_every_answer_has_a_request_id_and_is_recorded(api, trained):
    first = api.get("/recommend/3", {"topk": 4}).json()
    second = api.get("/recommend/3", {"topk": 4}).json()

    assert uuid.UUID(first["request_id"]) != uuid.UUID(second["request_id"])
    assert "experiment" not in first
    shown = Impression.objects.get(request_id=first["request_id"])
    assert shown.viewer_id == 3 and shown.experiment_id is None
    assert shown.items == [item["item_id"] for item in first["recommendations"]]
    assert shown.model_run_id == trained.id
    # Unknown viewers (cold start, one shared cached answer) get their own id too.
    assert api.get("/recommend/9999").json()["request_id"] != first["request_id"]


@pytest.mark.parametrize(
    ("variants", "mode", "status", "field"),
    [
        ([{"name": "a", "strategy": "active", "weight": 1}], "split", 422, "variants"),
        (
            [
                {"name": "a", "strategy": "active", "weight": 1},
                {"name": "a", "strategy": "popularity", "weight": 1},
            ],
            "split",
            422,
            "variants",
        ),
        (
            [
                {"name": "a", "strategy": "active", "weight": 0},
                {"name": "b", "strategy": "popularity", "weight": 1},
            ],
            "split",
            400,
            "variants",
        ),
        (
            [
                {"name": "a", "strategy": "active", "weight": 1},
                {"name": "b", "strategy": "run", "weight": 1},
            ],
            "split",
            422,
            "variants[1]",
        ),
        (
            [
                {"name": "a", "strategy": "active", "weight": 1, "model_run": 1},
                {"name": "b", "strategy": "popularity", "weight": 1},
            ],
            "split",
            422,
            "variants[0]",
        ),
        (
            [
                {"name": "a", "strategy": "active", "weight": 1},
                {"name": "b", "strategy": "run", "weight": 1, "model_run": 12345},
            ],
            "split",
            422,
            "variants[1]",
        ),
        (
            [
                {"name": "a", "strategy": "active", "weight": 1},
                {"name": "b", "strategy": "popularity", "weight": 1},
                {"name": "c", "strategy": "popularity", "weight": 1},
            ],
            "interleave",
            422,
            "variants",
        ),
    ],
)
def test_a_wrong_experiment_is_refused_and_nothing_is_stored(
    staff_api, trained, variants, mode, status, field
):
    response = create(staff_api, {"name": "x", "mode": mode, "variants": variants})

    assert response.status_code == status, response.json()
    assert field in response.json()["errors"], response.json()
    assert not Experiment.objects.exists()


def test_a_run_that_did_not_succeed_cannot_be_a_variant(staff_api, trained):
    failed = ModelRun.objects.create(status=ModelRun.Status.FAILED)
    body = {
        "name": "x",
        "mode": "split",
        "variants": [
            {"name": "a", "strategy": "active", "weight": 1},
            {"name": "b", "strategy": "run", "model_run": failed.id, "weight": 1},
        ],
    }
    response = create(staff_api, body)
    assert response.status_code == 422
    assert "not a succeeded run" in response.json()["errors"]["variants[1]"][0]


def test_lifecycle_and_one_running_experiment_at_a_time(staff_api, api, trained):
    created = create(staff_api).json()
    assert created["status"] == "draft" and len(created["variants"]) == 2
    experiment_id = created["id"]

    running = staff_api.post(f"/api/experiments/{experiment_id}/start/").json()
    other = create(staff_api, {**SPLIT, "name": "another"}).json()
    refused = staff_api.post(f"/api/experiments/{other['id']}/start/")

    assert running["status"] == "running" and running["started_at"]
    assert refused.status_code == 409
    assert f"experiment {experiment_id}" in refused.json()["detail"]
    assert "one experiment at a time" in refused.json()["detail"]
    assert api.get("/recommend/3").json()["experiment"]["id"] == experiment_id

    stopped = staff_api.post(f"/api/experiments/{experiment_id}/stop/")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert staff_api.post(f"/api/experiments/{experiment_id}/stop/").status_code == 409
    assert staff_api.post(f"/api/experiments/{experiment_id}/start/").status_code == 409
    assert "experiment" not in api.get("/recommend/3").json()
    assert staff_api.post(f"/api/experiments/{other['id']}/start/").status_code == 200

    listed = staff_api.get("/api/experiments/").json()
    assert [e["id"] for e in listed["results"]] == [other["id"], experiment_id]
    assert staff_api.get(f"/api/experiments/{experiment_id}/").json()["status"] == "stopped"
    assert staff_api.get("/api/experiments/999/").status_code == 404


def test_experiments_are_for_staff_only(api, ingest_api, trained):
    assert create(api).status_code == 401
    assert create(ingest_api).status_code == 403
    assert ingest_api.get("/api/experiments/").status_code == 403


def test_assignment_is_sticky_and_follows_the_hash(staff_api, api, trained):
    experiment = started(staff_api)
    salt = Experiment.objects.get(id=experiment["id"]).salt
    names = ["control", "ranker"]

    seen = {viewer: api.get(f"/recommend/{viewer}").json() for viewer in range(1, 61)}
    registry.forget_process_state()  # as in another process, or after a restart
    again = {viewer: api.get(f"/recommend/{viewer}").json() for viewer in range(1, 61)}

    for viewer in range(1, 61):
        variant = seen[viewer]["experiment"]["variant"]
        assert variant == again[viewer]["experiment"]["variant"]
        assert variant == names[assign_variant(salt, viewer, [1.0, 1.0])]
    assert {body["experiment"]["variant"] for body in seen.values()} == set(names)


def test_a_given_salt_assigns_as_before_and_a_bad_one_is_refused(staff_api, trained):
    variants = [
        {"name": "a", "strategy": "active", "weight": 1},
        {"name": "b", "strategy": "popularity", "weight": 1},
    ]
    body = {"name": "again", "mode": "split", "variants": variants, "salt": "spring-2026"}

    created = create(staff_api, body)
    refused = create(staff_api, {**body, "salt": "two words"})

    assert created.status_code == 201, created.json()
    assert created.json()["salt"] == "spring-2026"
    assert refused.status_code == 400 and "salt" in refused.json()["errors"]
    assert Experiment.objects.count() == 1


def test_the_popularity_variant_serves_the_popular_list_minus_the_history(staff_api, api, trained):
    from ingestion.models import Rating

    started(staff_api)
    bodies = {
        viewer: api.get(f"/recommend/{viewer}", {"topk": 5}).json() for viewer in range(1, 61)
    }
    popular = [b for b in bodies.values() if b["experiment"]["variant"] == "control"]
    ranked = [b for b in bodies.values() if b["experiment"]["variant"] == "ranker"]

    assert popular and ranked
    for body in popular:
        reasons = {r["source"] for item in body["recommendations"] for r in item["reasons"]}
        assert reasons == {"popularity"}
        rated = set(
            Rating.objects.filter(viewer_id=body["user_id"]).values_list("movie_id", flat=True)
        )
        assert not rated & {item["item_id"] for item in body["recommendations"]}
        assert body["cold_start"] is False
    shown = Impression.objects.get(request_id=popular[0]["request_id"])
    assert shown.variant.name == "control" and shown.experiment_id is not None


@pytest.fixture
def second_run(trained, fast_params):
    """Another succeeded run (with an artifact); ``trained`` stays the active one."""
    params = {**fast_params, "neighbors_per_item": 3}
    run = model_run_execute(run_id=model_run_create(triggered_by="test", params=params).id)
    registry.forget_process_state()
    from recommender.services.activation import model_run_rollback

    model_run_rollback(run_id=trained.id)
    return ModelRun.objects.get(id=run.id)


def test_a_named_run_is_served_beside_the_active_one(staff_api, api, trained, second_run):
    assert ModelRun.objects.get(is_active=True).id == trained.id
    body = {
        "name": "runs",
        "mode": "split",
        "variants": [
            {"name": "old", "strategy": "active", "weight": 1},
            {"name": "new", "strategy": "run", "model_run": second_run.id, "weight": 1},
        ],
    }
    started(staff_api, body)

    runs = {}
    for viewer in range(1, 61):
        answer = api.get(f"/recommend/{viewer}").json()
        runs.setdefault(answer["experiment"]["variant"], set()).add(answer["model_run"])
    assert runs == {"old": {trained.id}, "new": {second_run.id}}


def test_interleaved_lists_credit_each_movie_to_the_variant_that_placed_it(staff_api, api, trained):
    body = {
        "name": "duel",
        "mode": "interleave",
        "variants": [
            {"name": "pop", "strategy": "popularity", "weight": 1},
            {"name": "rank", "strategy": "active", "weight": 1},
        ],
    }
    experiment = started(staff_api, body)
    answer = api.get("/recommend/3", {"topk": 6}).json()

    tag = answer["experiment"]
    assert tag["id"] == experiment["id"] and tag["variant"] is None
    items = [item["item_id"] for item in answer["recommendations"]]
    assert len(items) == 6 == len(set(items)) == len(tag["credits"])
    shown = Impression.objects.get(request_id=answer["request_id"])
    assert shown.items == items and shown.variant is None
    assert [["pop", "rank"][team] for team in shown.credits] == tag["credits"]
    # Each movie is in the list of the variant credited with it.
    popular = {item["item_id"] for item in _variant_list(staff_api, api, "popularity")}
    for item, credit in zip(items, tag["credits"], strict=True):
        if credit == "pop":
            assert item in popular
    # Team draft: the two sides place as many movies each (6 = 3 + 3).
    assert sorted(tag["credits"]) == ["pop"] * 3 + ["rank"] * 3


def _variant_list(staff_api, api, strategy):
    from recommender.services.serving import recommendations_for_viewers

    (result,) = recommendations_for_viewers(
        viewer_ids=[3], topk=6, popularity=strategy == "popularity"
    )
    return result.representation["recommendations"]
