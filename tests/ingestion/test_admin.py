"""The data admin: every page answers, search and filters work, no N+1 queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ingestion.models import DatasetImport, Movie, Rating, Viewer

pytestmark = pytest.mark.django_db

MODELS = ["genre", "movie", "viewer", "rating", "datasetimport"]


@pytest.fixture
def tiny_data(tiny_dir: Path) -> None:
    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)


def changelist(model: str) -> str:
    return reverse(f"admin:ingestion_{model}_changelist")


@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_change_page_answer(staff_client, tiny_data, model: str) -> None:
    response = staff_client.get(changelist(model))
    assert response.status_code == 200

    first = response.context["cl"].result_list[0]
    change = staff_client.get(reverse(f"admin:ingestion_{model}_change", args=[first.pk]))
    assert change.status_code == 200


def test_anonymous_users_are_sent_to_the_login(client, tiny_data) -> None:
    response = client.get(changelist("rating"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_imports_are_a_read_only_record(staff_client, tiny_data) -> None:
    record = DatasetImport.objects.get()
    assert staff_client.get(reverse("admin:ingestion_datasetimport_add")).status_code == 403
    response = staff_client.post(
        reverse("admin:ingestion_datasetimport_change", args=[record.pk]), {"status": "failed"}
    )
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.status == DatasetImport.Status.SUCCEEDED


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        ("movie", "q=casablanca", [4]),
        ("movie", "genres__id__exact={thriller}", [2, 3]),
        ("movie", "year=1942", [4]),
        ("viewer", "q=94043", [2]),
        ("viewer", "gender__exact=F", [2]),
        ("viewer", "occupation__exact=writer", [3]),
        ("rating", "score__exact=5", [(1, 1), (2, 4)]),
        ("rating", "q=GoldenEye", [(1, 2)]),
    ],
)
def test_search_and_filters(staff_client, tiny_data, model, query, expected) -> None:
    from ingestion.models import Genre

    query = query.format(thriller=Genre.objects.get(name="Thriller").pk)
    response = staff_client.get(f"{changelist(model)}?{query}")

    assert response.status_code == 200
    results = response.context["cl"].result_list
    if model == "rating":
        found = sorted((r.viewer_id, r.movie_id) for r in results)
    else:
        found = sorted(r.pk for r in results)
    assert found == expected


def test_rating_changelist_query_count_does_not_grow_with_rows(staff_client, tiny_data) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(changelist("rating")).status_code == 200
        return len(captured)

    small = queries()
    viewers = Viewer.objects.bulk_create(Viewer(id=100 + i) for i in range(40))
    movie = Movie.objects.get(id=3)
    Rating.objects.bulk_create(
        Rating(viewer=v, movie=movie, score=3, rated_at="2000-01-01T00:00Z") for v in viewers
    )
    assert queries() == small


def test_autocomplete_finds_movies_by_title(staff_client, tiny_data) -> None:
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "ingestion", "model_name": "rating", "field_name": "movie", "term": "toy"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Toy Story (1995)"]
