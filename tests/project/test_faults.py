"""Faults: the database going away under a request, a bad model artifact, a failed load.

The artifact and training failures below the service layer are covered where they live
(tests/engine/test_engine_artifacts.py: truncated, empty, garbage, flipped bytes, wrong
version, foreign file, tampered array; tests/recommender/test_services_serving.py: a
corrupt artifact at activation; tests/recommender/test_services_training.py and
test_tasks.py: a failing stage keeps the active run). This file adds what the operator
sees: HTTP answers, and the served model, across each failure.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from movielens_files import write_grouplens
from rest_framework.test import APIClient
from servers import (
    PRODUCTION,
    database_url,
    fetch,
    free_port,
    production_env,
    running,
    uses_postgresql,
    wait_for_http,
)
from tcp_proxy import TcpProxy

from ingestion.models import Rating
from recommender import registry
from recommender.models import ModelRun
from recommender.services.activation import model_run_rollback
from recommender.services.runs import TrainingError
from recommender.services.training import model_run_create, model_run_execute


def recommended(client, viewer: int = 3) -> list[int]:
    response = client.get(f"/recommend/{viewer}")
    assert response.status_code == 200
    return [item["item_id"] for item in response.json()["recommendations"]]


# --- The database goes away ---------------------------------------------------------------


def _connection_lost(execute, sql, params, many, context):
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.django_db
def test_a_lost_database_answers_503_and_the_next_request_recovers(trained) -> None:
    client = APIClient()
    before = recommended(client)

    with connection.execute_wrapper(_connection_lost):
        for path in ("/recommend/3", "/api/movies/", "/"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert response.json() == {"detail": "database unavailable; retry shortly"}
            assert response["Retry-After"] == "5"
        assert client.get("/healthz").status_code == 200  # liveness needs no database
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"

    assert recommended(client) == before


@pytest.mark.django_db
def test_an_unreachable_cache_answers_503_and_liveness_stays_up(trained, settings) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "common.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        },
    }
    client = APIClient()
    response = client.get("/recommend/3")
    assert response.status_code == 503
    assert response.json() == {"detail": "cache unavailable; retry shortly"}
    assert response["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_postgresql_cut_under_gunicorn_then_restored(trained, tmp_path: Path) -> None:
    if not uses_postgresql():
        pytest.skip("needs PostgreSQL (the services pass of CI): a TCP proxy is cut")
    url = database_url()
    host, port = url.rsplit("@", 1)[1].split("/")[0].split(":")
    proxy = TcpProxy(host, int(port))
    port_web, log = free_port(), tmp_path / "gunicorn.log"
    env = production_env(
        DATABASE_URL=url.replace(f"@{host}:{port}/", f"@127.0.0.1:{proxy.port}/"),
        DJANGO_SETTINGS_MODULE=PRODUCTION,
    )
    base = f"http://127.0.0.1:{port_web}"
    command = ["gunicorn", "videorec_site.wsgi", "--bind", f"127.0.0.1:{port_web}"]
    try:
        with running([*command, "--workers", "1"], env, log) as server:
            wait_for_http(f"{base}/healthz", server, log)
            status, _, body = fetch(f"{base}/recommend/3")
            assert status == 200, body
            served = json.loads(body)

            proxy.cut()
            for _ in range(3):
                status, headers, body = fetch(f"{base}/recommend/3")
                assert status == 503, body
                assert json.loads(body) == {"detail": "database unavailable; retry shortly"}
                assert headers["Retry-After"] == "5"
            assert fetch(f"{base}/healthz")[0] == 200
            assert fetch(f"{base}/readyz")[0] == 503

            proxy.restore()
            status, _, body = fetch(f"{base}/recommend/3")
            assert status == 200, body
            # The same answer; each request has its own request_id.
            assert {**json.loads(body), "request_id": ""} == {**served, "request_id": ""}
            assert fetch(f"{base}/readyz")[0] == 200
    finally:
        proxy.close()
    text = log.read_text()
    assert "Traceback" not in text
    assert "database unavailable during GET /recommend/3" in text


# --- A bad artifact ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_wrong_version_artifact_is_refused_and_the_previous_model_serves(
    trained, fast_params
) -> None:
    client = APIClient()
    before = recommended(client)
    second = model_run_execute(
        run_id=model_run_create(triggered_by="test", params=fast_params).id, activate=False
    )
    good_artifact = Path(second.artifact.path).read_bytes()
    with np.load(second.artifact.path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    metadata = json.loads(arrays["__metadata__"].tobytes())
    metadata["format_version"] = 0
    arrays["__metadata__"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    wrong_version = io.BytesIO()
    np.savez(wrong_version, **arrays)

    # A rollback refuses it outright, and nothing changes (the run's recorded checksum is
    # the wrong file's, as if the run had written it: the version check is what refuses).
    Path(second.artifact.path).write_bytes(wrong_version.getvalue())
    sha256 = {"artifact_sha256": hashlib.sha256(wrong_version.getvalue()).hexdigest()}
    ModelRun.objects.filter(id=second.id).update(**sha256)
    with pytest.raises(TrainingError, match="artifact format version 0 is not supported"):
        model_run_rollback(run_id=second.id)
    assert ModelRun.objects.get(is_active=True).id == trained.id

    # Replaced on the shared storage after a switch: every process refuses to load it.
    Path(second.artifact.path).write_bytes(good_artifact)
    ModelRun.objects.filter(id=second.id).update(artifact_sha256=second.artifact_sha256)
    model_run_rollback(run_id=second.id)
    Path(second.artifact.path).write_bytes(wrong_version.getvalue())

    body = client.get("/recommend/3").json()
    assert body["model_run"] == trained.id  # this process keeps the model it holds
    assert [item["item_id"] for item in body["recommendations"]] == before

    registry.forget_process_state()  # a freshly started worker has nothing to keep
    body = client.get("/recommend/3").json()
    # It falls back to popularity rather than failing, and is not ready.
    assert body["model_run"] is None and len(body["recommendations"]) == 10
    assert client.get("/readyz").status_code == 503

    model_run_rollback(run_id=trained.id)
    assert recommended(client) == before


# --- A failed load -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failed_load_leaves_data_and_the_served_model_untouched(trained, tmp_path: Path) -> None:
    client = APIClient()
    before_recs = recommended(client)
    before_ratings = list(Rating.objects.order_by("id").values_list())
    folder = write_grouplens(tmp_path / "bad")
    with (folder / "u.data").open("a") as handle:
        handle.write("1\t1\t9\t881250949\n")

    with pytest.raises(CommandError, match="rating 9 is outside the allowed range"):
        call_command("loadml100k", "--path", str(folder), stdout=None)

    assert list(Rating.objects.order_by("id").values_list()) == before_ratings
    assert ModelRun.objects.get(is_active=True) == trained
    assert recommended(client) == before_recs
