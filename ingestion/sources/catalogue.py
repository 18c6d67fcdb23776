"""Movies and tags as the releases after ml-100k write them (``.dat`` and ``.csv`` alike):
``id, "Title (1995)", "Genre|Genre"`` and ``user, movie, tag, unix time``."""

from __future__ import annotations

import pandas as pd

from common.ids import MAX_ID

from .base import DataFormatError
from .parsing import (
    MAX_TIMESTAMP,
    TITLE_MAX_LENGTH,
    YEAR_IN_TITLE,
    check_known_ids,
    check_unique_ids,
    integer_column,
    text_column,
)

NO_GENRES = "(no genres listed)"
GENRE_MAX_LENGTH = 64
TAG_MAX_LENGTH = 255


def parse_movies(table: pd.DataFrame, name: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Movies from the three text columns id, title, genres (index: line numbers).

    Returns the movie frame (the columns of :class:`~.base.MovieLensData` movies) and the
    sorted genre names used. ``(no genres listed)`` is a movie without genres.
    """
    ids = integer_column(table.iloc[:, 0], name, "movie id", low=1, high=MAX_ID)
    check_unique_ids(ids, name, "movie id")
    titles = text_column(table.iloc[:, 1], name, "title", max_length=TITLE_MAX_LENGTH)
    empty = titles == ""
    if empty.any():
        raise DataFormatError(name, int(empty.idxmax()), "title is empty")
    genre_text = table.iloc[:, 2].str.strip().mask(lambda text: text == NO_GENRES, "")
    genre_lists = genre_text.map(lambda text: tuple(g for g in text.split("|") if g))
    names = sorted({genre for genres in genre_lists for genre in genres})
    too_long = [genre for genre in names if len(genre) > GENRE_MAX_LENGTH]
    if too_long:
        line = int(genre_lists.map(lambda genres: too_long[0] in genres).idxmax())
        raise DataFormatError(name, line, f"genre is longer than {GENRE_MAX_LENGTH} characters")
    movies = pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "title": titles,
            "year": pd.to_numeric(titles.str.extract(YEAR_IN_TITLE, expand=False)).astype("Int64"),
            "release_date": None,
            "video_release_date": None,
            "imdb_url": "",
            "genres": genre_lists,
        },
        index=table.index,
    )
    return movies, tuple(names)


def parse_tags(table: pd.DataFrame, name: str, movie_ids: frozenset[int]) -> pd.DataFrame:
    """Tags from the text columns user, movie, tag, time (index: line numbers).

    A blank tag says nothing and is skipped; the same tag given twice by one viewer to one
    movie is kept once, with its latest time.
    """
    viewers = integer_column(table.iloc[:, 0], name, "user id", low=1, high=MAX_ID)
    movies = integer_column(table.iloc[:, 1], name, "movie id", low=1, high=MAX_ID)
    check_known_ids(movies, movie_ids, name, "movie id")
    texts = text_column(table.iloc[:, 2], name, "tag", max_length=TAG_MAX_LENGTH)
    stamps = integer_column(table.iloc[:, 3], name, "timestamp", low=0, high=MAX_TIMESTAMP)
    tags = pd.DataFrame(
        {
            "viewer_id": viewers.astype("int64"),
            "movie_id": movies.astype("int64"),
            "text": texts,
            "timestamp": stamps.astype("int64"),
        },
        index=table.index,
    )
    tags = tags[tags["text"] != ""].sort_values("timestamp", kind="stable")
    return tags.drop_duplicates(["viewer_id", "movie_id", "text"], keep="last").sort_index()


def no_viewers() -> pd.DataFrame:
    """The viewer frame of a release without a user file."""
    return pd.DataFrame(columns=["id", "age", "gender", "occupation", "zip_code"])
