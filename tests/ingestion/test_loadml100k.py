"""``manage.py loadml100k``: sources, idempotence, atomicity and the operator's messages."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from movielens_files import TINY_RATINGS, write_grouplens
from movielens_releases import database_snapshot

from ingestion import downloads
from ingestion.models import DatasetImport, Genre, Movie, Rating, Viewer
from ingestion.services import rating_upsert
from ingestion.sources.recbole import RECBOLE_WHEEL_NAME

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def load(*args: str) -> str:
    out = StringIO()
    call_command("loadml100k", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def counts() -> tuple[int, int, int, int]:
    return (
        Viewer.objects.count(),
        Movie.objects.count(),
        Rating.objects.count(),
        Genre.objects.count(),
    )


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:
    """An empty VIDEOREC_DATA_DIR, and GroupLens unreachable unless a test says otherwise."""
    settings.VIDEOREC_DATA_DIR = tmp_path / "data"
    settings.VIDEOREC_GROUPLENS_URL = "http://127.0.0.1:9/ml-100k.zip"
    return settings.VIDEOREC_DATA_DIR


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server standing in for files.grouplens.org."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", root
    server.shutdown()
    server.server_close()


# ----------------------------------------------------------------------- the real data
def test_full_load_is_complete_and_idempotent(grouplens_dir: Path) -> None:
    first = load("--path", str(grouplens_dir))

    assert counts() == (943, 1682, 100_000, 19)
    assert "100,000 ratings (100,000 new, 0 updated)" in first
    before = database_snapshot()

    second = load("--path", str(grouplens_dir))

    assert "100,000 ratings (0 new, 0 updated)" in second
    assert database_snapshot() == before
    imports = DatasetImport.objects.order_by("id")
    assert [i.status for i in imports] == ["succeeded", "succeeded"]
    assert imports[0].checksum == imports[1].checksum
    assert imports[0].ratings_read == 100_000
    assert set(imports[0].timings) == {"fetch", "read", "write", "overview"}
    star_wars = Movie.objects.get(id=50)
    assert star_wars.title == "Star Wars (1977)"
    assert star_wars.year == 1977
    assert sorted(star_wars.genres.values_list("name", flat=True)) == [
        "Action", "Adventure", "Romance", "Sci-Fi", "War",
    ]  # fmt: skip


def test_bad_line_100003_leaves_the_database_as_it_was(
    grouplens_dir: Path, grouplens_copy: Path
) -> None:
    load("--path", str(grouplens_dir))
    before = database_snapshot()
    ratings = (grouplens_copy / "u.data").read_text().splitlines()
    ratings[4] = ratings[4].replace("\t1\t", "\t5\t", 1)  # a changed rating, line 5
    rated = {tuple(line.split("\t")[:2]) for line in ratings}
    new_pairs = [
        (u, i) for u in ("1", "2") for i in map(str, range(1, 1683)) if (u, i) not in rated
    ]
    ratings += [
        f"{new_pairs[0][0]}\t{new_pairs[0][1]}\t4\t881250949",  # line 100001
        f"{new_pairs[1][0]}\t{new_pairs[1][1]}\t5\t881250950",  # line 100002
        f"{new_pairs[2][0]}\t{new_pairs[2][1]}\t7\t881250951",  # line 100003
    ]
    (grouplens_copy / "u.data").write_text("\n".join(ratings) + "\n")

    with pytest.raises(CommandError) as caught:
        load("--path", str(grouplens_copy))

    message = str(caught.value)
    assert "u.data line 100003" in message
    assert "rating 7 is outside the allowed range 1–5" in message
    assert database_snapshot() == before
    failed = DatasetImport.objects.latest("id")
    assert failed.status == DatasetImport.Status.FAILED
    assert "u.data line 100003" in failed.error_message
    assert failed.finished_at is not None


def test_zip_source(grouplens_zip: Path) -> None:
    output = load("--zip", str(grouplens_zip))

    assert counts() == (943, 1682, 100_000, 19)
    assert "GroupLens zip" in output
    assert DatasetImport.objects.get().source == DatasetImport.Source.ZIP


def test_pypi_source_matches_the_grouplens_files(data_dir: Path, grouplens_dir: Path) -> None:
    load("--source", "pypi")

    assert counts() == (943, 1682, 100_000, 19)
    assert (data_dir / "downloads" / RECBOLE_WHEEL_NAME).is_file()
    from_pypi = list(
        Rating.objects.order_by("id").values_list("viewer", "movie", "score", "rated_at")
    )
    titles = dict(Movie.objects.values_list("id", "title"))
    record = DatasetImport.objects.get()
    assert record.source == DatasetImport.Source.PYPI

    load("--path", str(grouplens_dir))

    assert counts() == (943, 1682, 100_000, 19)
    assert DatasetImport.objects.latest("id").ratings_updated == 0
    grouplens_ratings = Rating.objects.order_by("id").values_list(
        "viewer", "movie", "score", "rated_at"
    )
    assert list(grouplens_ratings) == from_pypi
    assert titles == dict(Movie.objects.values_list("id", "title"))


def test_pypi_wheel_with_a_wrong_checksum_is_refused(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(downloads, "RECBOLE_WHEEL_SHA256", "0" * 64)

    with pytest.raises(CommandError, match=r"has SHA-256 9c99482\w+, expected 0{64}"):
        load("--source", "pypi")

    assert counts() == (0, 0, 0, 0)
    assert not (data_dir / "downloads" / RECBOLE_WHEEL_NAME).exists()
    assert DatasetImport.objects.get().status == DatasetImport.Status.FAILED


# ------------------------------------------------------------------ choosing the source
def test_auto_prefers_the_data_folder(data_dir: Path) -> None:
    write_grouplens(data_dir / "ml-100k")

    output = load()

    assert "GroupLens folder" in output
    assert counts() == (3, 4, 6, 19)


def test_auto_falls_back_to_pypi_when_grouplens_is_unreachable(data_dir: Path) -> None:
    load()

    record = DatasetImport.objects.get()
    assert record.source == DatasetImport.Source.PYPI
    assert record.ratings_read == 100_000


def test_grouplens_download_is_cached(
    settings, data_dir: Path, grouplens_zip: Path, http_server: tuple[str, Path]
) -> None:
    url, root = http_server
    shutil.copy(grouplens_zip, root / "ml-100k.zip")
    settings.VIDEOREC_GROUPLENS_URL = f"{url}/ml-100k.zip"

    load("--source", "grouplens")
    (root / "ml-100k.zip").unlink()  # the second load must not need the server
    output = load()

    assert "GroupLens download" in output
    assert "(0 new, 0 updated)" in output
    assert (data_dir / "downloads" / "ml-100k.zip").is_file()


def test_grouplens_answering_with_something_else_than_a_zip(
    settings, data_dir: Path, http_server: tuple[str, Path]
) -> None:
    url, root = http_server
    (root / "ml-100k.zip").write_text("<html>maintenance</html>")
    settings.VIDEOREC_GROUPLENS_URL = f"{url}/ml-100k.zip"

    with pytest.raises(CommandError, match="did not return a zip file"):
        load("--source", "grouplens")

    assert not list((data_dir / "downloads").iterdir())


# ------------------------------------------------------------- small data, exact control
def test_changed_rating_is_updated_not_duplicated(tmp_path: Path) -> None:
    load("--path", str(write_grouplens(tmp_path / "v1")))
    versions = dict(Viewer.objects.values_list("id", "history_version"))
    changed = [TINY_RATINGS[0].replace("\t5\t874965758", "\t2\t874999999"), *TINY_RATINGS[1:]]

    output = load("--path", str(write_grouplens(tmp_path / "v2", ratings=changed)))

    assert "(0 new, 1 updated)" in output
    assert Rating.objects.count() == len(TINY_RATINGS)
    rating = Rating.objects.get(viewer=1, movie=1)
    assert rating.score == 2
    assert int(rating.rated_at.timestamp()) == 874999999
    # Cached recommendations are keyed by this version: a changing load invalidates the
    # answers of the viewer whose rating changed, and nobody else's.
    after = dict(Viewer.objects.values_list("id", "history_version"))
    assert {v for v in after if after[v] != versions[v]} == {1}
    assert after[1] > versions[1]


def test_a_reload_keeps_ratings_changed_since_through_the_api(tmp_path: Path) -> None:
    """The file's rating of (1, 1) dates from 1997; the viewer changed it later."""
    files = write_grouplens(tmp_path)
    load("--path", str(files))
    rating_upsert(viewer_id=1, movie_id=1, score=2)
    rating_upsert(viewer_id=2, movie_id=1, score=1, rated_at=dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
    versions = dict(Viewer.objects.values_list("id", "history_version"))

    output = load("--path", str(files))

    # The newer API rating stays; the file's row is newer than the 1990 one and wins.
    assert "(0 new, 1 updated)" in output
    assert Rating.objects.get(viewer=1, movie=1).score == 2
    assert Rating.objects.get(viewer=2, movie=1).score == 4
    after = dict(Viewer.objects.values_list("id", "history_version"))
    assert {v for v in after if after[v] != versions[v]} == {2}


def test_a_file_row_as_recent_as_the_stored_one_updates_it(tmp_path: Path) -> None:
    """Same timestamp, other score: a corrected file, not a change made since."""
    load("--path", str(write_grouplens(tmp_path / "v1")))
    corrected = [TINY_RATINGS[0].replace("\t5\t", "\t4\t"), *TINY_RATINGS[1:], "3\t1\t3\t889237600"]

    output = load("--path", str(write_grouplens(tmp_path / "v2", ratings=corrected)))

    assert "(1 new, 1 updated)" in output
    assert Rating.objects.get(viewer=1, movie=1).score == 4


def test_an_unchanged_reload_keeps_the_history_versions(tmp_path: Path) -> None:
    load("--path", str(write_grouplens(tmp_path)))
    versions = dict(Viewer.objects.values_list("id", "history_version"))

    load("--path", str(write_grouplens(tmp_path)))

    assert dict(Viewer.objects.values_list("id", "history_version")) == versions


def test_movie_genres_follow_the_file(tmp_path: Path) -> None:
    load("--path", str(write_grouplens(tmp_path / "v1")))
    folder = write_grouplens(tmp_path / "v2")
    items = (folder / "u.item").read_text().splitlines()
    items[0] = items[0].replace("|0|0|0|1|1|1|0|", "|0|1|0|0|0|1|0|")  # Toy Story: Action, Comedy
    (folder / "u.item").write_text("\n".join(items) + "\n")

    load("--path", str(folder))

    assert sorted(Movie.objects.get(id=1).genres.values_list("name", flat=True)) == [
        "Action",
        "Comedy",
    ]


def test_ratings_may_refer_to_viewers_already_in_the_database(tmp_path: Path) -> None:
    load("--path", str(write_grouplens(tmp_path / "v1")))
    Viewer.objects.create(id=500)
    extra = write_grouplens(tmp_path / "v2", ratings=[*TINY_RATINGS, "500\t1\t4\t889237500"])

    load("--path", str(extra))

    assert Rating.objects.filter(viewer_id=500).count() == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [*lines, "1\t3\t9\t874965758"], "u.data line 7: rating 9 is outside"),
        (lambda lines: [*lines, "1\t3\t5"], "u.data line 7: expected 4 tab-separated fields"),
        (lambda lines: [*lines, "1\t99\t5\t1"], "u.data line 7: movie id 99 does not exist"),
        (lambda lines: [*lines, "77\t3\t5\t1"], "u.data line 7: user id 77 does not exist"),
        (
            lambda lines: [*lines, "1\tthree\t5\t1"],
            "u.data line 7: movie id 'three' is not a whole",
        ),
    ],
)
def test_bad_input_changes_nothing(tmp_path: Path, edit, message: str) -> None:
    load("--path", str(write_grouplens(tmp_path / "good")))
    before = database_snapshot()
    changed = [TINY_RATINGS[0].replace("\t5\t", "\t1\t"), *TINY_RATINGS[1:]]
    bad = write_grouplens(tmp_path / "bad", ratings=edit(changed))

    with pytest.raises(CommandError, match="^loadml100k failed: " + message):
        load("--path", str(bad))

    assert database_snapshot() == before
    assert DatasetImport.objects.latest("id").status == DatasetImport.Status.FAILED


def test_unreadable_file_changes_nothing(tmp_path: Path) -> None:
    load("--path", str(write_grouplens(tmp_path / "good")))
    before = database_snapshot()
    bad = write_grouplens(tmp_path / "bad")
    (bad / "u.data").unlink()
    (bad / "u.data").mkdir()

    with pytest.raises(CommandError, match=r"u\.data: cannot be read"):
        load("--path", str(bad))

    assert database_snapshot() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--path", "x", "--source", "zip"], "cannot be combined with --source zip"),
        (["--source", "zip"], "--source zip needs --zip FILE"),
    ],
)
def test_contradictory_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        load(*args)
    assert not DatasetImport.objects.exists()


def test_failure_exits_non_zero_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = write_grouplens(tmp_path / "bad", ratings=["1\t1\t7\t874965758"])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)

    result = subprocess.run(
        [*manage, "loadml100k", "--path", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: loadml100k failed: u.data line 1: rating 7 is outside the allowed range 1–5"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_progress_reports_every_row_written(tiny_dir: Path) -> None:
    from ingestion.services import movielens_import

    class Recorder:
        def __init__(self) -> None:
            self.stages: dict[str, list[int]] = {}

        def begin(self, stage: str, total: int) -> None:
            self.stages[stage] = [total, 0]

        def advance(self, rows: int) -> None:
            self.stages[list(self.stages)[-1]][1] += rows

    recorder = Recorder()
    movielens_import(source="path", path=tiny_dir, progress=recorder)

    assert recorder.stages == {"movies": [4, 4], "viewers": [3, 3], "ratings": [6, 6]}
