"""``manage.py loadmovielens PATH``: every layout (folder and zip), exact counts and stars,
links and tags, idempotence, refusals that leave the database unchanged."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from movielens_files import write_grouplens
from movielens_releases import (
    CSV_RATINGS,
    ML10M_RATINGS,
    database_snapshot,
    write_csv_release,
    write_ml1m,
    write_ml10m,
    zip_release,
)

from ingestion.models import DatasetImport, Genre, Movie, Rating, Tag, Viewer
from ingestion.services import rating_upsert
from ingestion.sources import chunks

pytestmark = pytest.mark.django_db(transaction=True)


def load(path: Path) -> str:
    out = StringIO()
    call_command("loadmovielens", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def stars() -> list[tuple[int, int, float]]:
    return list(
        Rating.objects.order_by("viewer_id", "movie_id").values_list(
            "viewer_id", "movie_id", "score"
        )
    )


# (writer, folder name, viewers, movies, ratings, genres, tags)
LAYOUTS: dict[str, tuple[Callable[..., Path], str, int, int, int, int, int]] = {
    "ml-100k": (write_grouplens, "ml-100k", 3, 4, 6, 19, 0),
    "ml-1m": (write_ml1m, "ml-1m", 3, 4, 6, 8, 0),
    "ml-10m": (write_ml10m, "ml-10M100K", 5, 3, 5, 5, 2),
    "csv": (write_csv_release, "ml-25m", 4, 5, 7, 8, 3),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("packed", [False, True], ids=["folder", "zip"])
def test_every_layout_loads_exactly_and_reloads_idempotently(
    tmp_path: Path, layout: str, packed: bool
) -> None:
    write, name, n_viewers, n_movies, n_ratings, n_genres, n_tags = LAYOUTS[layout]
    folder = write(tmp_path / name)
    path = zip_release(folder, tmp_path / f"{name}.zip") if packed else folder

    output = load(path)

    counts = (Viewer.objects.count(), Movie.objects.count(), Rating.objects.count())
    assert counts == (n_viewers, n_movies, n_ratings)
    assert (Genre.objects.count(), Tag.objects.count()) == (n_genres, n_tags)
    assert f"{n_ratings} ratings ({n_ratings} new, 0 updated)" in output
    record = DatasetImport.objects.get()
    assert (record.source, record.status, record.location) == ("release", "succeeded", str(path))
    assert (record.viewers_read, record.ratings_read) == (n_viewers, n_ratings)
    assert len(record.checksum) == 64

    before = database_snapshot()
    assert f"{n_ratings} ratings (0 new, 0 updated)" in load(path)
    assert database_snapshot() == before


def test_half_stars_links_and_tags_are_stored_exactly(tmp_path: Path) -> None:
    load(write_csv_release(tmp_path / "ml-25m"))

    assert stars() == [
        (1, 1, 4.0), (1, 11, 3.5), (1, 193609, 5.0), (2, 1, 0.5), (2, 131262, 2.5),
        (3, 11, 3.0), (3, 149532, 4.5),
    ]  # fmt: skip
    toy_story = Movie.objects.get(id=1)
    assert (toy_story.imdb_id, toy_story.tmdb_id) == (114709, 862)
    assert toy_story.imdb_page == "https://www.imdb.com/title/tt0114709/"
    assert toy_story.tmdb_page == "https://www.themoviedb.org/movie/862"
    assert Movie.objects.get(id=131262).tmdb_page == ""
    assert Movie.objects.get(id=11).title == "American President, The (1995)"
    assert not Movie.objects.get(id=149532).genres.exists()
    assert list(Tag.objects.filter(movie_id=11).values_list("viewer_id", "text")) == [
        (2, "politics, romance")
    ]
    # Viewer 4 only tagged: known, without demographics.
    assert Viewer.objects.filter(id=4, age=None, gender="", occupation="").exists()


def test_a_reload_keeps_a_rating_changed_since_and_bumps_only_changed_viewers(
    tmp_path: Path,
) -> None:
    folder = write_csv_release(tmp_path / "ml-25m")
    load(folder)
    rating_upsert(viewer_id=2, movie_id=1, score=4.5)  # through the API: newer than the file
    versions = dict(Viewer.objects.values_list("id", "history_version"))

    load(folder)

    assert Rating.objects.get(viewer_id=2, movie_id=1).score == 4.5
    assert dict(Viewer.objects.values_list("id", "history_version")) == versions


def test_ml1m_demographics_are_decoded(tmp_path: Path) -> None:
    load(write_ml1m(tmp_path / "ml-1m"))

    viewer = Viewer.objects.get(id=2)
    assert (viewer.age, viewer.gender, viewer.occupation) == (56, "M", "self-employed")
    assert Movie.objects.get(id=73).title == "Misérables, Les (1995)"


def test_a_bad_line_stops_the_load_and_changes_nothing(tmp_path: Path) -> None:
    load(write_ml10m(tmp_path / "ml-10M100K"))
    before = database_snapshot()
    bad = write_ml10m(
        tmp_path / "bad" / "ml-10M100K",
        **{"ratings.dat": ["1::1::4.5::838985046", *ML10M_RATINGS[1:], "9::2::5.5::1"]},
    )

    with pytest.raises(CommandError) as caught:
        load(bad)

    assert str(caught.value) == (
        "loadmovielens failed: ratings.dat line 6: rating 5.5 is outside 0.5–5.0"
    )
    assert database_snapshot() == before
    failed = DatasetImport.objects.order_by("-id").first()
    assert failed.status == "failed" and "ratings.dat line 6" in failed.error_message


def test_a_bad_line_in_a_later_chunk_undoes_the_chunks_already_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "RATING_CHUNK_ROWS", 2)
    folder = write_csv_release(
        tmp_path / "ml-25m", **{"ratings.csv": [*CSV_RATINGS, "1,11,2.0,1306464000"]}
    )

    with pytest.raises(CommandError, match="user 1 rates movie 11 a second time"):
        load(folder)

    assert (Rating.objects.count(), Movie.objects.count(), Viewer.objects.count()) == (0, 0, 0)


def test_a_path_that_is_no_release_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(CommandError, match="not a MovieLens release"):
        load(tmp_path / "empty")


def test_the_real_ml_latest_small_loads_exactly(latest_small_dir: Path) -> None:
    load(latest_small_dir)

    assert (Viewer.objects.count(), Movie.objects.count(), Rating.objects.count()) == (
        610,
        9_742,
        100_836,
    )
    assert Tag.objects.count() == 3_683
    assert Rating.objects.filter(score=3.5).count() == 13_136
    assert Movie.objects.filter(tmdb_id=None).count() == 8
