"""The later releases' layouts (ml-1m, ml-10m, the CSV releases): detection, exact values,
folder and zip, and one-line errors naming file, line and problem."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from movielens_files import write_grouplens
from movielens_releases import (
    CSV_LINKS,
    CSV_MOVIES,
    CSV_RATINGS,
    ML1M_RATINGS,
    ML1M_USERS,
    ML10M_RATINGS,
    write_csv_release,
    write_ml1m,
    write_ml10m,
    zip_release,
)

from ingestion.sources.base import DataFormatError, MovieLensRelease, folder_files
from ingestion.sources.chunks import DoubleColonAsTab, rating_chunks
from ingestion.sources.layout import open_release


def read_all(path: Path) -> tuple[MovieLensRelease, pd.DataFrame]:
    with open_release(path) as release:
        return release, pd.concat(list(release.rating_chunks))


def problem(path: Path) -> str:
    with pytest.raises(DataFormatError) as caught:
        read_all(path)
    return str(caught.value)


WRITERS: dict[str, tuple[Callable[..., Path], str]] = {
    "ml-1m": (write_ml1m, "ml-1m"),
    "ml-10m": (write_ml10m, "ml-10M100K"),
    "csv": (write_csv_release, "ml-25m"),
}


@pytest.mark.parametrize("layout", WRITERS)
@pytest.mark.parametrize("packed", [False, True], ids=["folder", "zip"])
def test_every_layout_reads_from_folder_and_zip(tmp_path: Path, layout: str, packed: bool) -> None:
    write, folder_name = WRITERS[layout]
    folder = write(tmp_path / folder_name)
    path = zip_release(folder, tmp_path / f"{folder_name}.zip") if packed else folder

    release, ratings = read_all(path)

    assert release.layout == layout
    assert ratings.index.min() == (2 if layout == "csv" else 1)
    assert list(ratings.columns) == ["viewer_id", "movie_id", "score", "timestamp"]
    assert release.checksum() == read_all(folder)[0].checksum()


def test_ml1m_users_carry_age_and_occupation_codes_and_latin1_titles(tmp_path: Path) -> None:
    release, ratings = read_all(write_ml1m(tmp_path / "ml-1m"))

    assert release.movies.set_index("id").loc[73, "title"] == "Misérables, Les (1995)"
    assert release.movies.set_index("id").loc[73, "genres"] == ("Drama", "Musical")
    assert release.viewers.set_index("id").loc[2].to_dict() == {
        "age": 56,
        "gender": "M",
        "occupation": "self-employed",
        "zip_code": "70072",
    }
    assert ratings["score"].tolist() == [5, 3, 4, 5, 1, 2]
    assert len(release.tags) == 0


def test_ml10m_keeps_half_stars_and_tags_without_users(tmp_path: Path) -> None:
    release, ratings = read_all(write_ml10m(tmp_path / "ml-10M100K"))

    assert ratings["score"].tolist() == [5.0, 3.5, 0.5, 4.5, 2.0]
    assert release.viewers.empty
    assert release.movies.set_index("id").loc[8606, "genres"] == ()
    # The same tag twice by one viewer for one movie is kept once, at its latest time.
    assert release.tags[["viewer_id", "movie_id", "text", "timestamp"]].values.tolist() == [
        [15, 1, "excellent!", 1215184630],
        [20, 2, "Robin Williams", 1188263999],
    ]


def test_csv_release_quoted_titles_links_and_no_genres(tmp_path: Path) -> None:
    release, ratings = read_all(write_csv_release(tmp_path / "ml-25m"))

    movies = release.movies.set_index("id")
    assert movies.loc[11, "title"] == "American President, The (1995)"
    assert movies.loc[193609, "title"] == 'Amélie, or: the "Fabulous" (2001)'
    assert movies.loc[193609, "year"] == 2001
    assert pd.isna(movies.loc[149532, "year"])
    assert movies.loc[149532, "genres"] == ()
    assert movies.loc[1, "imdb_id"] == 114709 and movies.loc[1, "tmdb_id"] == 862
    assert pd.isna(movies.loc[131262, "tmdb_id"])
    assert ratings["score"].tolist() == [4.0, 3.5, 5.0, 0.5, 2.5, 4.5, 3.0]
    assert release.tags["text"].tolist() == ["funny", "politics, romance", "Paris"]
    assert "(no genres listed)" not in release.genres


def test_ml100k_folder_goes_through_the_grouplens_reader(tmp_path: Path) -> None:
    release, ratings = read_all(write_grouplens(tmp_path / "ml-100k"))

    assert release.layout == "ml-100k"
    assert len(ratings) == 6 and len(release.viewers) == 3


@pytest.mark.parametrize(
    ("layout", "overrides", "expected"),
    [
        (
            "csv",
            {"ratings.csv": [*CSV_RATINGS[:5], "2,131262,5.5,1445714900"]},
            "ratings.csv line 6: rating 5.5 is outside 0.5–5.0",
        ),
        (
            "csv",
            {"ratings.csv": [*CSV_RATINGS[:3], "1,1,3.25,964982703"]},
            "ratings.csv line 4: rating 3.25 is not in half-star steps",
        ),
        (
            "csv",
            {"ratings.csv": [*CSV_RATINGS[:3], "", "1,1,four,964982703"]},
            "ratings.csv line 5: rating 'four' is not a number",
        ),
        (
            "csv",
            {"ratings.csv": [*CSV_RATINGS, "3,11,3.0,1306464000,extra"]},
            "ratings.csv line 9: expected 4 fields, found 5",
        ),
        (
            "csv",
            {"ratings.csv": [*CSV_RATINGS, "3,999,3.0,1306464000"]},
            "ratings.csv line 9: movie id 999 does not exist",
        ),
        (
            "csv",
            {"ratings.csv": [*CSV_RATINGS, "1,11,2.0,1306464000"]},
            "ratings.csv line 9: user 1 rates movie 11 a second time (first at line 3)",
        ),
        (
            "csv",
            {"ratings.csv": ["user,movie,rating,time", *CSV_RATINGS[1:]]},
            "ratings.csv line 1: header 'user,movie,rating,time' is not "
            "'userId,movieId,rating,timestamp'",
        ),
        (
            "csv",
            {"movies.csv": [*CSV_MOVIES, "11,Again (1999),Drama"]},
            "movies.csv line 7: movie id 11 appears again (first at line 3)",
        ),
        (
            "csv",
            {"links.csv": [*CSV_LINKS[:5], "193609,tt0211915,194"]},
            "links.csv line 6: IMDb id 'tt0211915' is not a whole number",
        ),
        (
            "ml-1m",
            {"users.dat": [*ML1M_USERS, "4::M::30::1::02139"]},
            "users.dat line 4: age code 30 is not one of 1, 18, 25, 35, 45, 50, 56",
        ),
        (
            "ml-1m",
            {"ratings.dat": [*ML1M_RATINGS, "9::1::4::978300760"]},
            "ratings.dat line 7: user id 9 does not exist",
        ),
        (
            "ml-10m",
            {"ratings.dat": [*ML10M_RATINGS, "9::2::0::1049765000"]},
            "ratings.dat line 6: rating 0 is outside 0.5–5.0",
        ),
    ],
)
def test_a_bad_line_is_named_with_file_line_and_problem(
    tmp_path: Path, layout: str, overrides: dict[str, list[str]], expected: str
) -> None:
    write, folder_name = WRITERS[layout]
    folder = write(tmp_path / folder_name, **overrides)

    assert problem(folder) == expected
    assert problem(zip_release(folder, tmp_path / "r.zip")) == f"r.zip:{folder_name}/{expected}"


def test_a_folder_without_ratings_is_not_a_release(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert "not a MovieLens release" in problem(tmp_path / "empty")
    assert "does not exist" in problem(tmp_path / "missing.zip")


def test_ratings_are_validated_in_chunks_with_absolute_line_numbers(tmp_path: Path) -> None:
    folder = write_csv_release(
        tmp_path / "ml-25m",
        **{"ratings.csv": [*CSV_RATINGS, "2,11,4.0,1", "2,193609,6.0,1"]},
    )
    chunks = rating_chunks(
        folder_files(folder),
        "ratings.csv",
        sep=",",
        header=("userId", "movieId", "rating", "timestamp"),
        movie_ids=frozenset({1, 11, 131262, 149532, 193609}),
        viewer_ids=None,
        chunk_rows=3,
    )
    assert next(chunks).index.tolist() == [2, 3, 4]
    assert next(chunks).index.tolist() == [5, 6, 7]
    with pytest.raises(DataFormatError, match=r"ratings\.csv line 10: rating 6"):
        list(chunks)


def test_double_colons_split_across_reads_become_one_tab() -> None:
    stream = DoubleColonAsTab(io.BytesIO(b"1::2::3.5::9\n"))
    parts = [stream.read(2) for _ in range(12)]

    assert b"".join(parts) == b"1\t2\t3.5\t9\n"


def test_the_real_ml_latest_small(latest_small_dir: Path) -> None:
    release, ratings = read_all(latest_small_dir)

    assert release.layout == "csv"
    assert len(release.movies) == 9_742
    assert len(ratings) == 100_836
    assert ratings["viewer_id"].nunique() == 610
    assert len(release.tags) == 3_683
    assert ratings["score"].value_counts().sort_index().to_dict()[3.5] == 13_136
    assert release.movies["imdb_id"].notna().all()
    assert release.movies["tmdb_id"].isna().sum() == 8
    assert (release.movies["genres"] == ()).sum() == 34
