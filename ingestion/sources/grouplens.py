"""The GroupLens layout: ``u.data``, ``u.item``, ``u.user`` (and optionally ``u.genre``),
in a folder or in the published ``ml-100k.zip``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.ids import MAX_ID

from .base import DataFormatError, MovieLensData, SourceFiles, folder_files, open_zip, zip_files
from .parsing import (
    TITLE_MAX_LENGTH,
    URL_MAX_LENGTH,
    YEAR_IN_TITLE,
    check_unique_ids,
    date_column,
    integer_column,
    parse_ratings,
    parse_viewers,
    read_table,
    text_column,
)

#: Genre order of the 19 flags in ``u.item`` when no ``u.genre`` file is given.
GROUPLENS_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def read_grouplens_folder(
    folder: Path,
    *,
    known_movie_ids: frozenset[int] = frozenset(),
    known_viewer_ids: frozenset[int] = frozenset(),
) -> MovieLensData:
    """Read ``u.data``, ``u.item``, ``u.user`` (and ``u.genre`` if present) from a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(str(folder), None, "is not a folder")
    return read_grouplens_files(
        folder_files(folder), known_movie_ids=known_movie_ids, known_viewer_ids=known_viewer_ids
    )


def read_grouplens_zip(
    path: Path,
    *,
    known_movie_ids: frozenset[int] = frozenset(),
    known_viewer_ids: frozenset[int] = frozenset(),
) -> MovieLensData:
    """Read the published ``ml-100k.zip`` (files at the root or in one folder)."""
    path = Path(path)
    with open_zip(path) as archive:
        data_members = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "u.data"]
        if not data_members:
            raise DataFormatError(path.name, None, "holds no u.data: not a MovieLens-100k zip")
        prefix = min(data_members, key=len)[: -len("u.data")]
        files = zip_files(archive, prefix, path.name)
        return read_grouplens_files(
            files, known_movie_ids=known_movie_ids, known_viewer_ids=known_viewer_ids
        )


def read_grouplens_files(
    files: SourceFiles, *, known_movie_ids: frozenset[int], known_viewer_ids: frozenset[int]
) -> MovieLensData:
    """The GroupLens files of ``files`` (folder or zip), validated."""
    genres = _parse_genre_list(files)
    movies = _parse_grouplens_items(files, genres)
    viewers = parse_viewers(files, "u.user", sep="|", header=False)
    ratings = parse_ratings(
        files,
        "u.data",
        header=False,
        movie_ids=frozenset(movies["id"].tolist()) | known_movie_ids,
        viewer_ids=frozenset(viewers["id"].tolist()) | known_viewer_ids,
    )
    return MovieLensData(genres, movies, viewers, ratings, files.checksum)


def _parse_genre_list(files: SourceFiles) -> tuple[str, ...]:
    raw = files.read_optional("u.genre")
    if raw is None:
        return GROUPLENS_GENRES
    name = files.name("u.genre")
    genres: dict[int, str] = {}
    for number, line in enumerate(raw.decode("latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, position = line.rpartition("|")
        if not sep or not position.strip().isdigit() or not label.strip():
            raise DataFormatError(name, number, "expected 'name|position'")
        genres[int(position)] = label.strip()
    if sorted(genres) != list(range(len(genres))):
        raise DataFormatError(name, None, "genre positions must run 0, 1, 2, … without gaps")
    return tuple(genres[i] for i in range(len(genres)))


def _parse_grouplens_items(files: SourceFiles, genres: tuple[str, ...]) -> pd.DataFrame:
    name = files.name("u.item")
    table = read_table(
        files, "u.item", sep="|", fields=5 + len(genres), encoding="latin-1", header=False
    )
    ids = integer_column(table[0], name, "movie id", low=1, high=MAX_ID)
    check_unique_ids(ids, name, "movie id")
    titles = text_column(table[1], name, "title", max_length=TITLE_MAX_LENGTH)
    release = date_column(table[2], name, "release date")
    flags = table.iloc[:, 5:]
    not_flag = ~flags.isin(["0", "1"])
    if not_flag.to_numpy().any():
        line = int(not_flag.any(axis=1).idxmax())
        raise DataFormatError(name, line, "genre flags must be 0 or 1")
    flag_matrix = flags.to_numpy() == "1"
    genre_names = np.array(genres, dtype=object)
    title_years = titles.str.extract(YEAR_IN_TITLE, expand=False)
    release_years = pd.Series(
        [day.year if day is not None else None for day in release], index=table.index
    ).astype("Int64")
    return pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "title": titles,
            "year": pd.to_numeric(title_years)
            .astype("Int64")
            .fillna(release_years.astype("Int64")),
            "release_date": release,
            "video_release_date": date_column(table[3], name, "video release date"),
            "imdb_url": text_column(table[4], name, "IMDb URL", max_length=URL_MAX_LENGTH),
            "genres": [tuple(genre_names[row]) for row in flag_matrix],
        },
        index=table.index,
    )
