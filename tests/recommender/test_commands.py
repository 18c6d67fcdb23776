"""``manage.py train`` and ``manage.py recommend``."""

from __future__ import annotations

import csv
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from kombu.exceptions import OperationalError as BrokerError

from recommender import tasks
from recommender.models import ModelRun
from recommender.services import serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_defaults")]


def run_command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_train_reports_stages_and_metrics(synthetic_ratings) -> None:
    output = run_command("train")

    run = ModelRun.objects.get()
    assert f"Model run {run.id}: 840 ratings" in output
    for stage in (
        "Building recall tables",
        "Training the ranker",
        "Evaluating offline",
        "Activating",
    ):
        assert stage in output
    for row in ("system", "popularity", "ease"):
        assert f"\n  {row} " in output
    assert f"Model run {run.id} succeeded" in output and "(active)" in output


def test_train_no_activate(synthetic_ratings) -> None:
    output = run_command("train", "--no-activate")
    assert "(not activated)" in output
    assert not ModelRun.objects.filter(is_active=True).exists()


def test_train_fails_with_a_clear_message(db) -> None:
    with pytest.raises(CommandError, match="no ratings to train on"):
        run_command("train")


def test_train_async_needs_a_broker(synthetic_ratings, settings) -> None:
    settings.CELERY_BROKER_URL = ""
    with pytest.raises(CommandError, match="--async needs a Celery broker"):
        run_command("train", "--async")


def test_train_async_refuses_a_second_retrain_while_one_is_in_flight(
    synthetic_ratings, settings
) -> None:
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    running = ModelRun.objects.create(status="running", stage="ranker")

    with pytest.raises(CommandError, match=f"model run {running.id} is already running"):
        run_command("train", "--async")
    assert ModelRun.objects.count() == 1


def test_train_async_with_an_unreachable_broker_says_so(
    synthetic_ratings, settings, monkeypatch
) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6390/0"

    def delay(run_id: int, **options):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(tasks.retrain, "delay", delay)

    with pytest.raises(CommandError, match="the Celery broker is unreachable"):
        run_command("train", "--async")
    assert ModelRun.objects.get().status == "failed"


def test_recommend_one_viewer(synthetic_ratings) -> None:
    run_command("train")
    output = run_command("recommend", "3", "--topk", "3")
    assert output.startswith("Viewer 3 (model run")
    assert len(output.strip().splitlines()) == 4


def test_recommend_all_writes_the_serving_answers(synthetic_ratings, eager, tmp_path: Path) -> None:
    run_command("train")
    target = tmp_path / "recs.tsv"

    run_command("recommend", "--all", "--topk", "3", "--output", str(target))

    rows = list(csv.DictReader(target.open(), delimiter="\t"))
    assert len(rows) == 60 * 3
    viewer_3 = [int(row["item_id"]) for row in rows if row["user_id"] == "3"]
    (single,) = serving.recommendations_for_viewers(viewer_ids=[3], topk=3)
    assert viewer_3 == [item.item_id for item in single.recommendations]
    assert [row["rank"] for row in rows[:3]] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend", "3", "--topk", "0"], "--topk must be between 1 and 100"),
        (["recommend", "3", "--topk", "101"], "--topk must be between 1 and 100"),
        (["recommend"], "give a USER_ID"),
        (["recommend", "--all"], "use either USER_ID or --all --output"),
    ],
)
def test_recommend_refuses_bad_arguments(db, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run_command(*args)
