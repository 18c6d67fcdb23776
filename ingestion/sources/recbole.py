"""The RecBole atomic files of MovieLens-100k, read straight out of the ``recbole==1.2.1``
wheel on PyPI (without installing it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.ids import MAX_ID

from .base import MovieLensData, SourceFiles, open_zip, zip_files
from .grouplens import GROUPLENS_GENRES
from .parsing import (
    TITLE_MAX_LENGTH,
    YEAR_IN_TITLE,
    check_unique_ids,
    integer_column,
    parse_ratings,
    parse_viewers,
    read_table,
    text_column,
)

#: The ``recbole==1.2.1`` wheel on PyPI and the members that hold MovieLens-100k.
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_MEMBER_DIR = "recbole/dataset_example/ml-100k/"


def read_recbole_wheel(
    path: Path,
    *,
    known_movie_ids: frozenset[int] = frozenset(),
    known_viewer_ids: frozenset[int] = frozenset(),
) -> MovieLensData:
    """Read MovieLens-100k from the RecBole atomic files inside the ``recbole`` wheel.

    The wheel carries the ratings and users unchanged; movies have their title without the
    year, the year, and their genres, but no release dates or IMDb links.
    """
    path = Path(path)
    with open_zip(path) as archive:
        files = zip_files(archive, RECBOLE_MEMBER_DIR, path.name)
        movies, genres = _parse_recbole_items(files, "ml-100k.item")
        viewers = parse_viewers(files, "ml-100k.user", sep="\t", header=True)
        ratings = parse_ratings(
            files,
            "ml-100k.inter",
            header=True,
            movie_ids=frozenset(movies["id"].tolist()) | known_movie_ids,
            viewer_ids=frozenset(viewers["id"].tolist()) | known_viewer_ids,
        )
        return MovieLensData(genres, movies, viewers, ratings, files.checksum)


def _parse_recbole_items(files: SourceFiles, member: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    name = files.name(member)
    table = read_table(files, member, sep="\t", fields=4, encoding="utf-8", header=True)
    ids = integer_column(table[0], name, "movie id", low=1, high=MAX_ID)
    check_unique_ids(ids, name, "movie id")
    # RecBole writes "unkonwn" for the one movie GroupLens calls "unknown".
    placeholder = table[1].str.strip() == "unkonwn"
    titles = table[1].str.strip().mask(placeholder, "unknown")
    # The year column also holds RecBole's placeholder and, once, a format note ("V")
    # that GroupLens keeps in the title: "Land Before Time III: … (1995) (V)".
    year_text = table[2].str.strip().mask(table[2].str.strip() == "unkonwn", "")
    full_titles = titles.where(year_text == "", titles + " (" + year_text + ")")
    years = pd.to_numeric(full_titles.str.extract(YEAR_IN_TITLE, expand=False)).astype("Int64")
    genre_lists = table[3].str.split().map(tuple)
    known = set(GROUPLENS_GENRES)
    extra = sorted({g for names in genre_lists for g in names} - known)
    movies = pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "title": text_column(full_titles, name, "title", max_length=TITLE_MAX_LENGTH),
            "year": years,
            "release_date": None,
            "video_release_date": None,
            "imdb_url": "",
            "genres": genre_lists,
        },
        index=table.index,
    )
    return movies, GROUPLENS_GENRES + tuple(extra)
