"""``recommend --all`` fanned out over a real Celery worker (the services pass of CI)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django_celery_results.models import TaskResult

from recommender.services import serving

BROKER = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not BROKER, reason="needs CELERY_BROKER_URL (the services pass of CI)"),
    pytest.mark.django_db(transaction=True),
]


def test_a_chunked_export_on_a_worker_is_the_in_process_answer(
    start_worker,
    trained,
    tmp_path: Path,
) -> None:
    start_worker()
    target = tmp_path / "recs.tsv"

    call_command("recommend", "--all", "--topk", "5", "--output", str(target), "--chunk-size", "7")

    rows = [
        (int(row["user_id"]), int(row["item_id"]), int(row["rank"]))
        for row in csv.DictReader(target.open(), delimiter="\t")
    ]
    expected = serving.recommendations_for_viewers(viewer_ids=list(range(1, 61)), topk=5)
    assert rows == [
        (result.user_id, item.item_id, rank)
        for result in expected
        for rank, item in enumerate(result.recommendations, start=1)
    ]
    # Nine chunks of at most seven viewers, each a task the worker ran.
    done = TaskResult.objects.filter(task_name="recommender.recommend_chunk", status="SUCCESS")
    assert done.count() == 9
    assert "recommender.recommend_chunk" in (tmp_path / "worker.log").read_text()
