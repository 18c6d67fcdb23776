"""The loader's scaling paths at small size: tiny chunks, the first-load fast path against
the upsert path, atomicity of a failing chunk, the schema after a first load.

Run on SQLite and, in the services pass, on PostgreSQL (where the first load of an empty
ratings table takes the ``COPY … FREEZE`` path with its indexes rebuilt at the end).
"""

from __future__ import annotations

from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ingestion import release_writes
from ingestion.models import DatasetImport, Rating, Viewer
from ingestion.services import rating_upsert
from ingestion.sources import chunks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    folder = tmp_path / "synthetic"
    call_command(
        "makemovielens", "--users", "40", "--movies", "60", "--ratings", "900", "--seed", "3",
        "--out", str(folder), stdout=StringIO(),
    )  # fmt: skip
    return folder


def load(path: Path) -> None:
    call_command("loadmovielens", str(path), stdout=StringIO(), stderr=StringIO())


def stored() -> dict[str, list]:
    """What a load writes, without the ids a sequence hands out."""
    return {
        "ratings": list(
            Rating.objects.order_by("viewer_id", "movie_id").values_list(
                "viewer_id", "movie_id", "score", "rated_at"
            )
        ),
        "viewers": list(Viewer.objects.order_by("id").values_list("id", "history_version")),
    }


def import_counts() -> tuple[int, int, int]:
    record = DatasetImport.objects.order_by("-id").first()
    return record.ratings_read, record.ratings_created, record.ratings_updated


def wipe() -> None:
    Rating.objects.all().delete()
    Viewer.objects.all().delete()


def schema(table: str) -> set[str]:
    """The definitions of the table's indexes and constraints (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass "
            "UNION SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass",
            [table, table],
        )
        return {row[0] for row in cursor.fetchall()}


@contextmanager
def no_first_load(_table: str):
    yield None


def test_tiny_chunks_store_what_one_chunk_stores(
    release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(release)
    whole, whole_counts = stored(), import_counts()
    wipe()

    monkeypatch.setattr(chunks, "RATING_CHUNK_ROWS", 7)
    load(release)

    assert stored() == whole
    assert import_counts() == whole_counts == (900, 900, 0)


def test_the_first_load_path_and_the_upsert_path_store_the_same_rows(
    release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "RATING_CHUNK_ROWS", 100)
    load(release)
    first, first_counts = stored(), import_counts()
    wipe()

    monkeypatch.setattr(release_writes, "first_load", no_first_load)
    load(release)

    assert stored() == first
    assert import_counts() == first_counts == (900, 900, 0)


def test_a_reload_after_a_first_load_changes_nothing(
    release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "RATING_CHUNK_ROWS", 100)
    load(release)
    rated = Rating.objects.order_by("id").first()
    rating_upsert(viewer_id=rated.viewer_id, movie_id=rated.movie_id, score=0.5)
    before = stored()

    load(release)

    assert stored() == before
    assert import_counts() == (900, 0, 0)


def test_a_failing_chunk_of_a_first_load_leaves_the_table_as_it_was(
    release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = Rating._meta.db_table
    before = schema(table) if connection.vendor == "postgresql" else set()
    lines = (release / "ratings.csv").read_text().splitlines()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "movies.csv").write_text((release / "movies.csv").read_text())
    (bad / "ratings.csv").write_text("\n".join([*lines[:600], "1,1,9.0,1", *lines[600:]]) + "\n")
    monkeypatch.setattr(chunks, "RATING_CHUNK_ROWS", 100)

    with pytest.raises(CommandError, match="line 601: rating 9 is outside"):
        load(bad)

    assert Rating.objects.count() == 0
    if connection.vendor == "postgresql":
        assert schema(table) == before
    load(release)
    assert import_counts() == (900, 900, 0)


def test_a_failing_chunk_of_a_reload_changes_nothing(
    release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(release)
    before = stored()
    lines = (release / "ratings.csv").read_text().splitlines()
    changed = [line.rsplit(",", 2)[0] + ",0.5,2000000000" for line in lines[1:]]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "movies.csv").write_text((release / "movies.csv").read_text())
    (bad / "ratings.csv").write_text("\n".join([lines[0], *changed, "1,1,9.0,1"]) + "\n")
    monkeypatch.setattr(chunks, "RATING_CHUNK_ROWS", 100)

    with pytest.raises(CommandError, match="line 902: rating 9 is outside"):
        load(bad)

    assert stored() == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's first-load path")
def test_a_first_load_rebuilds_the_same_indexes_and_constraints(release: Path) -> None:
    table = Rating._meta.db_table
    before = schema(table)

    load(release)

    assert schema(table) == before
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        assert cursor.fetchone()[0] == 900  # analysed: the admin's estimates read this
