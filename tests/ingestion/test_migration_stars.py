"""0004: the existing whole-star ratings become stars unchanged, half stars then fit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("ingestion", "0004_catalogue_version")]
AFTER = [("ingestion", "0005_rating_score_stars")]


def migrate(targets: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_scores_convert_exactly_and_half_stars_fit_afterwards() -> None:
    old = migrate(BEFORE)
    movie = old.get_model("ingestion", "Movie").objects.create(id=1, title="Toy Story (1995)")
    viewer = old.get_model("ingestion", "Viewer").objects.create(id=1)
    old.get_model("ingestion", "Viewer").objects.create(id=2)
    when = dt.datetime(1998, 1, 1, tzinfo=dt.UTC)
    old.get_model("ingestion", "Rating").objects.create(
        viewer=viewer, movie=movie, score=4, rated_at=when
    )
    try:
        new = migrate(AFTER)
        ratings = new.get_model("ingestion", "Rating").objects
        assert list(ratings.values_list("score", flat=True)) == [4.0]
        ratings.create(viewer_id=2, movie_id=1, score=3.5, rated_at=when)
        assert sorted(ratings.values_list("score", flat=True)) == [3.5, 4.0]
        with pytest.raises(IntegrityError), transaction.atomic():
            ratings.filter(score=3.5).update(score=3.25)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
