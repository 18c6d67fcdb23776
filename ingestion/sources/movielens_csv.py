"""The CSV releases: ml-20m, ml-25m, ml-32m, ml-latest and ml-latest-small.

``ratings.csv`` (``userId,movieId,rating,timestamp``, half stars), ``movies.csv``
(``movieId,title,genres``; titles with commas are quoted), ``tags.csv``
(``userId,movieId,tag,timestamp``) and ``links.csv`` (``movieId,imdbId,tmdbId``), UTF-8
with a header line, no user file. The genome files of some releases are not read.
"""

from __future__ import annotations

import io

import pandas as pd

from common.ids import MAX_ID

from .base import DataFormatError, MovieLensRelease, SourceFiles, no_tags
from .catalogue import no_viewers, parse_movies, parse_tags
from .chunks import parser_error, rating_chunks
from .parsing import check_known_ids, check_unique_ids, decode_text, integer_column

RATINGS_HEADER = ("userId", "movieId", "rating", "timestamp")
MOVIES_HEADER = ("movieId", "title", "genres")
TAGS_HEADER = ("userId", "movieId", "tag", "timestamp")
LINKS_HEADER = ("movieId", "imdbId", "tmdbId")


def read_csv_release(
    files: SourceFiles, *, known_movie_ids: frozenset[int], known_viewer_ids: frozenset[int]
) -> MovieLensRelease:
    """Movies (with their links), tags, and the ratings as validated chunks.

    Every viewer is implied by the ratings and tags (``known_viewer_ids`` is not needed:
    any id creates a viewer without demographics).
    """
    movies, genres = parse_movies(
        read_csv_table(files, "movies.csv", MOVIES_HEADER), files.name("movies.csv")
    )
    movie_ids = frozenset(movies["id"].tolist()) | known_movie_ids
    if files.has("links.csv"):
        movies = _with_links(movies, files, movie_ids)
    tags = no_tags()
    if files.has("tags.csv"):
        tags = parse_tags(
            read_csv_table(files, "tags.csv", TAGS_HEADER), files.name("tags.csv"), movie_ids
        )
    chunks = rating_chunks(
        files, "ratings.csv", sep=",", header=RATINGS_HEADER, movie_ids=movie_ids, viewer_ids=None
    )
    return MovieLensRelease(
        "csv", genres, movies, no_viewers(), tags, chunks, lambda: files.checksum
    )


def read_csv_table(files: SourceFiles, member: str, header: tuple[str, ...]) -> pd.DataFrame:
    """A small CSV file as text columns, indexed by line number, its header checked."""
    name = files.name(member)
    text = decode_text(files.read(member), name, "utf-8")
    try:
        table = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError(name, None, "holds no data") from exc
    except pd.errors.ParserError as exc:
        raise parser_error(exc, name) from exc
    if tuple(table.columns) != header:
        found = ",".join(map(str, table.columns))
        raise DataFormatError(name, 1, f"header {found!r} is not {','.join(header)!r}")
    table.index = pd.RangeIndex(2, 2 + len(table))
    missing = table.isna().any(axis=1)
    blank = (table.fillna("") == "").all(axis=1)
    short = missing & ~blank
    if short.any():
        line = int(short.idxmax())
        found = int(table.loc[line].notna().sum())
        raise DataFormatError(name, line, f"expected {len(header)} fields, found {found}")
    return table[~blank]


def _with_links(
    movies: pd.DataFrame, files: SourceFiles, movie_ids: frozenset[int]
) -> pd.DataFrame:
    name = files.name("links.csv")
    table = read_csv_table(files, "links.csv", LINKS_HEADER)
    ids = integer_column(table["movieId"], name, "movie id", low=1, high=MAX_ID)
    check_unique_ids(ids, name, "movie id")
    check_known_ids(ids, movie_ids, name, "movie id")
    links = pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "imdb_id": integer_column(
                table["imdbId"], name, "IMDb id", low=1, high=MAX_ID, blank_ok=True
            ),
            "tmdb_id": integer_column(
                table["tmdbId"], name, "TMDb id", low=1, high=MAX_ID, blank_ok=True
            ),
        }
    )
    return movies.merge(links, on="id", how="left").set_axis(movies.index)
