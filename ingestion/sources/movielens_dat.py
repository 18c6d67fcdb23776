"""The ``::``-separated releases: ml-1m (``ratings.dat``, ``movies.dat``, ``users.dat``) and
ml-10m (``ratings.dat``, ``movies.dat``, ``tags.dat``; half stars, no user file).

The layouts are those of each release's README: ``UserID::MovieID::Rating::Timestamp``,
``MovieID::Title::Genres``, ``UserID::Gender::Age::Occupation::Zip-code`` and
``UserID::MovieID::Tag::Timestamp``.
"""

from __future__ import annotations

import pandas as pd

from common.ids import MAX_ID

from .base import DataFormatError, MovieLensRelease, SourceFiles, no_tags
from .catalogue import no_viewers, parse_movies, parse_tags
from .chunks import rating_chunks
from .parsing import check_unique_ids, gender_column, integer_column, read_table, text_column

#: ml-1m's README: users give an age bracket, stored as its code (the bracket's first year;
#: 1 is "under 18").
AGE_CODES = (1, 18, 25, 35, 45, 50, 56)
#: ml-1m's README: occupations are codes 0–20 with these names.
OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
# ml-1m is latin-1; later files may be UTF-8, which latin-1 would misread.
ENCODINGS = ("utf-8", "latin-1")


def read_dat_release(
    files: SourceFiles, *, known_movie_ids: frozenset[int], known_viewer_ids: frozenset[int]
) -> MovieLensRelease:
    """ml-1m when ``users.dat`` is there, ml-10m otherwise."""
    name = files.name("movies.dat")
    table = read_table(files, "movies.dat", sep="::", fields=3, encoding=ENCODINGS, header=False)
    movies, genres = parse_movies(table, name)
    movie_ids = frozenset(movies["id"].tolist()) | known_movie_ids
    if files.has("users.dat"):
        layout, viewers = "ml-1m", parse_users_dat(files)
        viewer_ids: frozenset[int] | None = frozenset(viewers["id"].tolist()) | known_viewer_ids
    else:
        layout, viewers, viewer_ids = "ml-10m", no_viewers(), None
    tags = no_tags()
    if files.has("tags.dat"):
        tag_table = read_table(
            files, "tags.dat", sep="::", fields=4, encoding=ENCODINGS, header=False
        )
        tags = parse_tags(tag_table, files.name("tags.dat"), movie_ids)
    chunks = rating_chunks(
        files, "ratings.dat", sep="::", header=None, movie_ids=movie_ids, viewer_ids=viewer_ids
    )
    return MovieLensRelease(layout, genres, movies, viewers, tags, chunks, lambda: files.checksum)


def parse_users_dat(files: SourceFiles) -> pd.DataFrame:
    """ml-1m's ``users.dat``: gender, age code and occupation code per viewer."""
    name = files.name("users.dat")
    table = read_table(files, "users.dat", sep="::", fields=5, encoding=ENCODINGS, header=False)
    ids = integer_column(table[0], name, "user id", low=1, high=MAX_ID)
    check_unique_ids(ids, name, "user id")
    ages = integer_column(table[2], name, "age code", low=1, high=56)
    wrong_age = ~ages.isin(AGE_CODES)
    if wrong_age.any():
        line = int(wrong_age.idxmax())
        codes = ", ".join(map(str, AGE_CODES))
        raise DataFormatError(name, line, f"age code {ages[line]} is not one of {codes}")
    occupations = integer_column(
        table[3], name, "occupation code", low=0, high=len(OCCUPATIONS) - 1
    )
    return pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "age": ages.astype("int64"),
            "gender": gender_column(table[1], name),
            "occupation": occupations.map(lambda code: OCCUPATIONS[code]),
            "zip_code": text_column(table[4], name, "zip code", max_length=16),
        },
        index=table.index,
    )
