"""Activation, rollback to an earlier run, and pruning of old runs' recall tables."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from recommender.models import ItemNeighbor, ModelRun, PopularItem
from recommender.services.activation import model_run_activate, model_run_rollback
from recommender.services.recall_tables import recall_tables_prune
from recommender.services.runs import TrainingError
from recommender.services.serving import recommendations_for_viewers
from tests.run_states import train

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]


def tables(run: ModelRun) -> tuple[list[tuple], list[tuple]]:
    neighbors = ItemNeighbor.objects.filter(run=run).order_by("source", "movie_id", "rank")
    popular = PopularItem.objects.filter(run=run).order_by("rank")
    return (
        list(neighbors.values_list("source", "movie_id", "rank", "neighbor_id", "score")),
        list(popular.values_list("rank", "movie_id", "score")),
    )


def serving_run() -> int | None:
    return recommendations_for_viewers(viewer_ids=[1], topk=3)[0].model_run


def test_rollback_switches_the_serving_model(synthetic_ratings, fast_params) -> None:
    first = train(fast_params)
    second = train(fast_params, force=True)
    assert serving_run() == second.id

    returned = model_run_rollback(run_id=first.id)

    assert returned.id == first.id
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_active, second.is_active) == (True, False)
    # A rollback is not a training stage: the run's record is left as it was.
    assert (first.status, first.stage) == ("succeeded", "done")
    assert serving_run() == first.id


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("failed", "it failed"),
        ("queued", "it has not started training yet"),
        ("running", "it is still training"),
    ],
)
def test_rollback_refuses_runs_that_did_not_succeed(
    synthetic_ratings, fast_params, status, reason
) -> None:
    active = train(fast_params)
    other = ModelRun.objects.create(status=status, stage="ranker", triggered_by="test")

    with pytest.raises(TrainingError, match=f"run {other.id} cannot be activated: {reason}"):
        model_run_rollback(run_id=other.id)

    assert ModelRun.objects.get(is_active=True).id == active.id
    other.refresh_from_db()
    assert (other.status, other.stage) == (status, "ranker")


def test_rollback_of_an_unknown_run(db) -> None:
    with pytest.raises(TrainingError, match="there is no model run 999"):
        model_run_rollback(run_id=999)


def test_old_runs_lose_their_tables_and_artifact_together(
    synthetic_ratings, fast_params, settings
) -> None:
    settings.VIDEOREC_KEEP_RECALL_TABLES = 1
    first = train(fast_params)
    first_file = Path(first.artifact.path)
    assert tables(first)[0] and tables(first)[1] and first_file.is_file()

    second = train(fast_params, force=True)
    # The first run is neither active nor among the newest one: tables and file are gone.
    assert tables(first) == ([], [])
    first.refresh_from_db()
    assert (first.artifact.name, first.artifact_sha256) == ("", "")
    assert not first_file.exists()
    with pytest.raises(TrainingError, match="it has no model artifact"):
        model_run_rollback(run_id=first.id)

    third = train(fast_params, activate=False)
    # The second run stays because it serves; the third because it is the newest.
    assert tables(second)[0] and tables(third)[0]
    assert Path(second.artifact.path).is_file() and Path(third.artifact.path).is_file()


def test_a_rollback_republishes_tables_pruned_without_their_artifact(
    synthetic_ratings, fast_params
) -> None:
    """Tables pruned on their own (by an earlier version, or by hand) come back."""
    first = train(fast_params)
    published = tables(first)
    train(fast_params, force=True)
    recall_tables_prune(keep=0)
    assert tables(first) == ([], [])

    model_run_rollback(run_id=first.id)
    assert tables(first) == published
    assert serving_run() == first.id


def test_pruning_spares_runs_in_progress_and_the_active_run(synthetic_ratings, fast_params) -> None:
    active = train(fast_params)
    newer = train(fast_params, activate=False)
    running = train(fast_params, activate=False)
    ModelRun.objects.filter(id=running.id).update(status=ModelRun.Status.RUNNING)

    pruned = recall_tables_prune(keep=0)

    assert pruned == [newer.id]
    assert tables(newer) == ([], [])
    assert tables(active)[0] and tables(running)[0]


@pytest.mark.parametrize(
    ("environment", "expected"), [({}, 3), ({"VIDEOREC_KEEP_RECALL_TABLES": "7"}, 7)]
)
def test_keep_setting_comes_from_the_environment(environment, expected) -> None:
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.VIDEOREC_KEEP_RECALL_TABLES)"
    env = {k: v for k, v in os.environ.items() if k != "VIDEOREC_KEEP_RECALL_TABLES"}
    env.update(DJANGO_READ_DOT_ENV_FILE="false", **environment)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == expected


def test_pruning_never_strips_a_run_that_a_rollback_is_activating(
    synthetic_ratings, fast_params, monkeypatch
) -> None:
    """The rollback holds its run's row lock; pruning waits and then sees it active."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks between two connections (the services pass)")
    older = train(fast_params)
    train(fast_params, force=True)
    assert tables(older)[0]  # still among the newest three

    in_lock, real_now = threading.Event(), timezone.now

    def slow_now():
        # Called by the rollback while it holds the locks, just before it switches.
        if threading.current_thread() is not threading.main_thread():
            in_lock.set()
            time.sleep(1.0)
        return real_now()

    monkeypatch.setattr(timezone, "now", slow_now)

    def rollback() -> None:
        try:
            model_run_rollback(run_id=older.id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=rollback)
    worker.start()
    assert in_lock.wait(10)
    pruned = recall_tables_prune(keep=0)
    worker.join(10)

    assert older.id not in pruned
    assert ModelRun.objects.get(is_active=True).id == older.id
    assert tables(older)[0]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL): concurrent activations from threads",
)
def test_simultaneous_activations_leave_one_active_run(db) -> None:
    runs = [ModelRun.objects.create(status="running", stage="evaluation") for _ in range(6)]
    barrier = threading.Barrier(len(runs))
    errors: list[Exception] = []

    def activate(run_id: int) -> None:
        try:
            barrier.wait()
            model_run_activate(run_id=run_id, force=True)
        except Exception as exc:  # an IntegrityError here would be the bug
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(run.id,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ModelRun.objects.filter(is_active=True).count() == 1
