"""The recall-table lists at scale: the source filter probes the index, never DISTINCT."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ingestion.models import Movie
from recommender.admin.recall_tables import published_sources
from recommender.models import ItemNeighbor, ModelRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs() -> list[ModelRun]:
    movies = Movie.objects.bulk_create(Movie(id=i, title=f"Movie {i}") for i in range(1, 4))
    first, second = (ModelRun.objects.create(status="succeeded") for _ in range(2))
    rows = [
        ItemNeighbor(run=run, source=source, movie=movie, rank=1, neighbor=movies[0], score=1.0)
        for run, sources in [(first, ["knn", "ease", "cooc"]), (second, ["als"])]
        for source in sources
        for movie in movies
    ]
    ItemNeighbor.objects.bulk_create(rows)
    return [first, second]


def test_published_sources_are_found_run_by_run(runs, django_assert_num_queries) -> None:
    with django_assert_num_queries(4):  # one probe per source found, one to find none
        assert published_sources([runs[0].id]) == ["cooc", "ease", "knn"]
    assert published_sources([run.id for run in runs]) == ["als", "cooc", "ease", "knn"]
    assert published_sources([]) == []


def test_the_neighbor_list_filters_by_source(staff_client, runs) -> None:
    url = reverse("admin:recommender_itemneighbor_changelist")

    response = staff_client.get(url, {"source": "ease", "run__id__exact": runs[0].id})

    shown = response.context["cl"].result_list
    assert {(row.run_id, row.source) for row in shown} == {(runs[0].id, "ease")}
    assert len(shown) == 3
    html = staff_client.get(url).content.decode()
    assert all(f"?source={source}" in html for source in ["als", "cooc", "ease", "knn"])
