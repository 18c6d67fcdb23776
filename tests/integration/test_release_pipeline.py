"""A later release, end to end: makemovielens → loadmovielens → train → /recommend, with
half stars and viewers without demographics."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from movielens_releases import write_csv_release
from rest_framework.test import APIClient

from ingestion.models import Rating, Viewer
from recommender.models import ModelRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_defaults")]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_synthetic_csv_release_trains_and_serves(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic"
    made = run("makemovielens", "--users", "120", "--movies", "80", "--ratings", "4000",
               "--out", str(folder), "--seed", "5")  # fmt: skip
    assert "4,000 ratings (ml-25m layout)" in made

    assert "4,000 ratings (4,000 new, 0 updated)" in run("loadmovielens", str(folder))
    assert Rating.objects.filter(score=3.5).exists()
    assert not Viewer.objects.exclude(age=None).exists()

    run("train")
    assert ModelRun.objects.get().status == "succeeded"
    response = APIClient().get("/recommend/7", {"topk": 5})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cold_start"] is False and len(body["recommendations"]) == 5
    rated = set(Rating.objects.filter(viewer_id=7).values_list("movie_id", flat=True))
    assert not rated & {item["item_id"] for item in body["recommendations"]}


def test_the_fixture_release_serves_a_viewer_known_only_by_tag(tmp_path: Path) -> None:
    run("loadmovielens", str(write_csv_release(tmp_path / "ml-25m")))

    response = APIClient().get("/recommend/4", {"topk": 3})

    assert response.status_code == 200, response.content
    assert response.json()["cold_start"] is True


def test_makemovielens_refuses_a_mixed_shape(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="either --shape or"):
        run("makemovielens", "--shape", "ml-1m", "--users", "5", "--out", str(tmp_path))
