"""Publishing a run's recall tables: rows checked in bulk (no per-row foreign keys in the
database), all or nothing, and no row left naming a deleted movie or run."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from django.db import connection, transaction
from django.db.models import Q

from ingestion.models import Movie
from ingestion.services import movies_delete
from recommender.models import ItemNeighbor, ModelRun, PopularItem
from recommender.services import recall_tables
from recommender.services.artifacts import model_runs_delete
from recommender.services.recall_tables import RecallTablesRefused, recall_tables_write


def tables(pairs: list[tuple[int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    neighbors = pd.DataFrame(
        {
            "movie_id": [movie for movie, _ in pairs],
            "neighbor_id": [neighbor for _, neighbor in pairs],
            "score": 0.5,
            "rank": range(1, len(pairs) + 1),
            "source": "itemknn",
        }
    )
    popular = pd.DataFrame({"movie_id": [1, 2], "score": [2.0, 1.0], "rank": [1, 2]})
    return neighbors, popular


def rows(run: ModelRun) -> list[tuple]:
    return list(
        ItemNeighbor.objects.filter(run=run).values_list("movie_id", "neighbor_id", "rank")
    ) + list(PopularItem.objects.filter(run=run).values_list("movie_id", "rank"))


@pytest.fixture
def published(db) -> ModelRun:
    Movie.objects.bulk_create(Movie(id=i, title=f"Movie {i}") for i in range(1, 6))
    run = ModelRun.objects.create(status=ModelRun.Status.SUCCEEDED, triggered_by="test")
    neighbors, popular = tables([(1, 2), (2, 3), (3, 1)])
    recall_tables_write(run=run, neighbors=neighbors, popular=popular)
    return run


def test_publishing_again_replaces_the_runs_rows(published) -> None:
    neighbors, popular = tables([(4, 5), (5, 4)])

    recall_tables_write(run=published, neighbors=neighbors, popular=popular)

    assert rows(published) == [(4, 5, 1), (5, 4, 2), (1, 1), (2, 2)]


@pytest.mark.parametrize("pairs", [[(1, 2), (2, 999)], [(998, 1)]])
def test_unknown_movies_are_refused_and_the_previous_tables_kept(published, pairs) -> None:
    before = rows(published)
    neighbors, popular = tables(pairs)

    with pytest.raises(RecallTablesRefused, match="do not exist: 99"):
        recall_tables_write(run=published, neighbors=neighbors, popular=popular)

    assert rows(published) == before


def test_a_deleted_run_is_refused(published) -> None:
    gone = ModelRun.objects.create(status=ModelRun.Status.SUCCEEDED, triggered_by="test")
    ModelRun.objects.filter(id=gone.id).delete()

    with pytest.raises(RecallTablesRefused, match=f"run {gone.id} does not exist"):
        recall_tables_write(run=gone, neighbors=tables([(1, 2)])[0], popular=tables([])[1])

    assert not ItemNeighbor.objects.filter(run_id=gone.id).exists()


def test_a_failure_while_writing_leaves_the_previous_tables(published, monkeypatch) -> None:
    before = rows(published)
    written = []

    def insert_then_fail(table: str, frame: pd.DataFrame) -> int:
        if written:  # the neighbor rows are in: fail on the popularity list
            raise RuntimeError("disk full")
        written.append(table)
        return original(table, frame)

    original = recall_tables.insert_frame
    monkeypatch.setattr(recall_tables, "insert_frame", insert_then_fail)
    neighbors, popular = tables([(4, 5)])

    with pytest.raises(RuntimeError, match="disk full"):
        recall_tables_write(run=published, neighbors=neighbors, popular=popular)

    assert rows(published) == before


def test_deleting_a_movie_or_a_run_leaves_no_orphans(published) -> None:
    movies_delete(movies=Movie.objects.filter(id=2))

    assert not ItemNeighbor.objects.filter(Q(movie_id=2) | Q(neighbor_id=2)).exists()
    assert rows(published) == [(3, 1, 3), (1, 1)]
    model_runs_delete(runs=ModelRun.objects.filter(id=published.id))
    assert not ItemNeighbor.objects.exists() and not PopularItem.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL")
def test_a_movie_deleted_while_publishing_takes_the_new_rows_with_it() -> None:
    """The deletion waits for the publication's lock, then its cascade sees the new rows."""
    Movie.objects.bulk_create(Movie(id=i, title=f"Movie {i}") for i in range(1, 4))
    run = ModelRun.objects.create(status=ModelRun.Status.SUCCEEDED, triggered_by="test")
    written, release = threading.Event(), threading.Event()

    def publish() -> None:
        try:
            with transaction.atomic():
                neighbors, popular = tables([(1, 2), (2, 3)])
                recall_tables_write(run=run, neighbors=neighbors, popular=popular)
                written.set()
                release.wait(30)
        finally:
            connection.close()

    def delete() -> None:
        try:
            movies_delete(movies=Movie.objects.filter(id=2))
        finally:
            connection.close()

    publisher = threading.Thread(target=publish)
    publisher.start()
    assert written.wait(30)
    deleter = threading.Thread(target=delete)
    deleter.start()
    deleter.join(1)
    assert deleter.is_alive()  # waiting for the publication's lock on movie 2
    release.set()
    publisher.join(30)
    deleter.join(30)

    assert not Movie.objects.filter(id=2).exists()
    assert not ItemNeighbor.objects.filter(Q(movie_id=2) | Q(neighbor_id=2)).exists()
    assert list(PopularItem.objects.values_list("movie_id", flat=True)) == [1]
