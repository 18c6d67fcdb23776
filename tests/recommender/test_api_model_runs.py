"""/api/model-runs/: staff-only retrain trigger and run status, and their schema."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommender import tasks
from recommender.models import ModelRun
from recommender.services import training
from videorec_site import celery_app

pytestmark = pytest.mark.django_db(transaction=True)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def staff_user(django_user_model, name: str, *permissions: str):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    return user


@pytest.fixture
def staff(django_user_model) -> APIClient:
    """An operator: staff allowed to change model runs, as the admin's Retrain now needs."""
    return token_client(staff_user(django_user_model, "op", "change_modelrun"))


@pytest.fixture
def viewer_account(django_user_model) -> APIClient:
    return token_client(django_user_model.objects.create_user("app", password="pw"))


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[int, dict]]:
    """The retrain task is only recorded, as a broker would hold it for a worker."""
    calls: list[tuple[int, dict]] = []

    def delay(run_id: int, **options) -> SimpleNamespace:
        calls.append((run_id, options))
        return SimpleNamespace(id=f"task-{run_id}")

    monkeypatch.setattr(tasks.retrain, "delay", delay)
    return calls


def test_anonymous_clients_get_401(client, synthetic_ratings) -> None:
    for response in (
        client.post("/api/model-runs/", {}, content_type="application/json"),
        client.get("/api/model-runs/"),
        client.get("/api/model-runs/1/"),
    ):
        assert response.status_code == 401
        assert response.json()["detail"]
    assert not ModelRun.objects.exists()


def test_non_staff_accounts_get_403(viewer_account, synthetic_ratings) -> None:
    assert viewer_account.post("/api/model-runs/", {}, format="json").status_code == 403
    assert viewer_account.get("/api/model-runs/").status_code == 403
    assert not ModelRun.objects.exists()


def test_staff_need_the_admin_permissions_too(django_user_model, synthetic_ratings) -> None:
    bare = token_client(staff_user(django_user_model, "bare"))
    reader = token_client(staff_user(django_user_model, "reader", "view_modelrun"))

    assert bare.get("/api/model-runs/").status_code == 403
    assert bare.post("/api/model-runs/", {}, format="json").status_code == 403
    assert reader.get("/api/model-runs/").status_code == 200
    response = reader.post("/api/model-runs/", {}, format="json")
    assert response.status_code == 403
    assert "permission" in response.json()["detail"]
    assert not ModelRun.objects.exists()


def test_staff_enqueue_a_retrain_and_get_202(staff, synthetic_ratings, enqueued) -> None:
    response = staff.post("/api/model-runs/", {"activate": False}, format="json")

    assert response.status_code == 202
    body = response.json()
    run = ModelRun.objects.get()
    assert (body["id"], body["status"], body["stage"]) == (run.id, "queued", "queued")
    assert body["task_id"] == f"task-{run.id}"
    assert body["triggered_by"] == "API (op)"
    assert body["links"]["self"].endswith(f"/api/model-runs/{run.id}/")
    assert response["Location"] == body["links"]["self"]
    assert enqueued == [(run.id, {"activate": False, "force": False})]


def test_session_authentication_works_for_staff(staff_client, synthetic_ratings, enqueued):
    response = staff_client.post("/api/model-runs/", {}, content_type="application/json")
    assert response.status_code == 202


def test_a_request_while_a_retrain_is_in_flight_gets_409_and_that_run(
    staff, synthetic_ratings, enqueued
) -> None:
    first = staff.post("/api/model-runs/", {}, format="json").json()

    response = staff.post("/api/model-runs/", {"force": True}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["model_run"]["id"] == first["id"]
    assert f"run {first['id']} is already queued" in body["detail"]
    assert ModelRun.objects.count() == 1 and len(enqueued) == 1


def test_an_unreachable_broker_gets_503_and_a_failed_run(
    staff, staff_client, synthetic_ratings, monkeypatch
) -> None:
    def delay(run_id: int, **options):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(tasks.retrain, "delay", delay)

    response = staff.post("/api/model-runs/", {}, format="json")

    assert response.status_code == 503
    assert "broker is unreachable" in response.json()["detail"]
    run = ModelRun.objects.get()
    assert run.status == "failed" and "could not be enqueued" in run.error
    # The admin's button says the same, as a message rather than an error page.
    page = staff_client.post("/admin/recommender/modelrun/retrain/", follow=True)
    assert page.status_code == 200
    assert "broker is unreachable" in page.content.decode()


@pytest.mark.usefixtures("eager")
def test_without_a_broker_production_refuses_to_train_inside_a_web_request(
    staff, staff_client, synthetic_ratings, settings
) -> None:
    """gunicorn would kill a retrain running in its worker after its timeout."""
    settings.VIDEOREC_RETRAIN_IN_PROCESS = False  # as production settings have it

    response = staff.post("/api/model-runs/", {}, format="json")

    assert response.status_code == 503
    assert "no Celery broker is configured" in response.json()["detail"]
    assert not ModelRun.objects.exists()
    page = staff_client.post("/admin/recommender/modelrun/retrain/", follow=True)
    assert page.status_code == 200
    assert "no Celery broker is configured" in page.content.decode()
    assert not ModelRun.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"activate": "maybe"}, "activate"),
        ({"force": [1]}, "force"),
        ({"params": {}}, "params"),
        # The schema says boolean: DRF's lenient spellings are refused.
        ({"activate": 0}, "activate"),
        ({"force": "true"}, "force"),
    ],
)
def test_a_bad_body_gets_400(staff, synthetic_ratings, enqueued, payload, field) -> None:
    response = staff.post("/api/model-runs/", payload, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:")
    assert not ModelRun.objects.exists() and not enqueued


@pytest.mark.parametrize(
    ("form", "status"),
    [({"activate": "false", "force": "true"}, 202), ({"force": "0"}, 400), ({"force": "on"}, 400)],
)
def test_a_form_body_spells_booleans_as_json_does(
    staff, synthetic_ratings, enqueued, form: dict, status: int
) -> None:
    response = staff.post("/api/model-runs/", form, format="multipart")
    assert response.status_code == status, response.json()
    if status == 202:
        assert enqueued[0][1] == {"activate": False, "force": True}


def test_without_a_broker_the_retrain_runs_in_the_request(
    staff, synthetic_ratings, monkeypatch, fast_params, request
) -> None:
    conf = celery_app.conf
    saved = conf.task_always_eager
    conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(conf, "task_always_eager", saved))
    defaults = training.default_params
    monkeypatch.setattr(training, "default_params", lambda: {**defaults(), **fast_params})

    body = staff.post("/api/model-runs/", {}, format="json").json()

    assert (body["status"], body["stage"], body["is_active"]) == ("succeeded", "done", True)
    assert set(body["stage_seconds"]) == {"recall", "ranker", "evaluation", "activation"}
    assert "ndcg@10" in body["metrics"]["system"]


def test_staff_watch_runs(staff, synthetic_ratings, enqueued) -> None:
    older = ModelRun.objects.create(status="failed", stage="ranker", error="Traceback …")
    newer = ModelRun.objects.create(
        status="running", stage="ranker", worker_host="w1", worker_pid=77
    )

    listing = staff.get("/api/model-runs/").json()
    assert listing["count"] == 2
    assert [run["id"] for run in listing["results"]] == [newer.id, older.id]

    detail = staff.get(f"/api/model-runs/{newer.id}/").json()
    assert (detail["status"], detail["stage"], detail["worker"]) == ("running", "ranker", "w1:77")
    assert staff.get(f"/api/model-runs/{older.id}/").json()["error"] == "Traceback …"
    assert staff.get("/api/model-runs/999999/").status_code == 404


def test_the_schema_documents_the_model_run_endpoints(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    create = text[text.index("operationId: model_runs_create") :]
    # Up to the next operation (links name operations too, deeper in).
    create = create[: create.index("\n      operationId:", 10)]
    for code in ("'202':", "'400':", "'401':", "'403':", "'409':"):
        assert code in create
    assert "  /api/model-runs/{run_id}/:" in text
