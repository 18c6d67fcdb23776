"""MovieLens-100k file formats: read and validate them into pandas frames.

Pure Python and pandas, no Django: the loader service, the benchmarks and the tests all
read data through these functions. Three layouts are understood:

* the GroupLens folder (``u.data``, ``u.item``, ``u.user``, optionally ``u.genre``),
* the published ``ml-100k.zip`` (the same files inside an ``ml-100k/`` folder),
* the RecBole atomic files carried by the ``recbole==1.2.1`` wheel on PyPI.

Every problem is raised as :class:`DataFormatError`, which names the file, the line and
what is wrong, so that an operator can fix the input without reading a traceback.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

#: Genre order of the 19 flags in ``u.item`` when no ``u.genre`` file is given.
GROUPLENS_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

#: The ``recbole==1.2.1`` wheel on PyPI and the members that hold MovieLens-100k.
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_MEMBER_DIR = "recbole/dataset_example/ml-100k/"

MAX_ID = 2_147_483_647  # PositiveIntegerField on every database backend
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last datetime Python can hold
MAX_AGE = 150
MOVIE_COLUMNS = [
    "id", "title", "year", "release_date", "video_release_date", "imdb_url", "genres",
]  # fmt: skip
VIEWER_COLUMNS = ["id", "age", "gender", "occupation", "zip_code"]
RATING_COLUMNS = ["viewer_id", "movie_id", "score", "timestamp"]
GENDERS = ("M", "F")
TITLE_MAX_LENGTH = 255
URL_MAX_LENGTH = 255
TEXT_MAX_LENGTH = 64

_INTEGER = re.compile(r"[+-]?\d{1,18}(\.0*)?")
# The last "(1995)" of a title; some end in a format note: "... (1995) (V)".
_YEAR_IN_TITLE = re.compile(r".*\((\d{4})\)")


class DataFormatError(ValueError):
    """Malformed input, located by file name and (1-based) line number."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file = file
        self.line = line
        self.problem = problem
        where = f"{file} line {line}" if line is not None else file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class MovieLensData:
    """A validated MovieLens data set.

    ``movies``: id, title, year, release_date, video_release_date (``datetime.date`` or
    None), imdb_url, genres (tuple of names). ``viewers``: id, age, gender, occupation,
    zip_code. ``ratings``: viewer_id, movie_id, score (1–5), timestamp (unix seconds).
    Ratings only refer to movies and viewers listed here, or to ``known_*_ids`` given
    to the reader (rows already in the database).
    """

    genres: tuple[str, ...]
    movies: pd.DataFrame
    viewers: pd.DataFrame
    ratings: pd.DataFrame
    checksum: str


# --------------------------------------------------------------------------- file access
class _Files:
    """Named raw files of one data set, and the checksum of everything read."""

    def __init__(self, read: Callable[[str], bytes | None], display: Callable[[str], str]):
        self._read = read
        self._display = display
        self._digest = hashlib.sha256()

    def name(self, member: str) -> str:
        return self._display(member)

    def read_optional(self, member: str) -> bytes | None:
        try:
            raw = self._read(member)
        except OSError as exc:
            raise DataFormatError(self.name(member), None, f"cannot be read ({exc})") from exc
        if raw is not None:
            self._digest.update(member.encode() + b"\0" + raw)
        return raw

    def read(self, member: str) -> bytes:
        raw = self.read_optional(member)
        if raw is None:
            raise DataFormatError(self.name(member), None, "is missing")
        return raw

    @property
    def checksum(self) -> str:
        return self._digest.hexdigest()


def _folder_files(folder: Path) -> _Files:
    def read(member: str) -> bytes | None:
        path = folder / member
        return path.read_bytes() if path.exists() else None

    return _Files(read, lambda member: member)


def _zip_files(archive: zipfile.ZipFile, prefix: str, label: str) -> _Files:
    names = set(archive.namelist())

    def read(member: str) -> bytes | None:
        name = prefix + member
        if name not in names:
            return None
        try:
            return archive.read(name)
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise OSError(str(exc)) from exc

    return _Files(read, lambda member: f"{label}:{prefix}{member}")


# ------------------------------------------------------------------------------- readers
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
    return _read_grouplens(_folder_files(folder), known_movie_ids, known_viewer_ids)


def read_grouplens_zip(
    path: Path,
    *,
    known_movie_ids: frozenset[int] = frozenset(),
    known_viewer_ids: frozenset[int] = frozenset(),
) -> MovieLensData:
    """Read the published ``ml-100k.zip`` (files at the root or in one folder)."""
    path = Path(path)
    with _open_zip(path) as archive:
        data_members = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "u.data"]
        if not data_members:
            raise DataFormatError(path.name, None, "holds no u.data: not a MovieLens-100k zip")
        prefix = min(data_members, key=len)[: -len("u.data")]
        files = _zip_files(archive, prefix, path.name)
        return _read_grouplens(files, known_movie_ids, known_viewer_ids)


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
    with _open_zip(path) as archive:
        files = _zip_files(archive, RECBOLE_MEMBER_DIR, path.name)
        movies, genres = _parse_recbole_items(files, "ml-100k.item")
        viewers = _parse_viewers(files, "ml-100k.user", sep="\t", header=True)
        ratings = _parse_ratings(
            files,
            "ml-100k.inter",
            header=True,
            movie_ids=frozenset(movies["id"].tolist()) | known_movie_ids,
            viewer_ids=frozenset(viewers["id"].tolist()) | known_viewer_ids,
        )
        return MovieLensData(genres, movies, viewers, ratings, files.checksum)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise DataFormatError(str(path), None, "does not exist") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataFormatError(str(path), None, f"is not a readable zip file ({exc})") from exc


def _read_grouplens(
    files: _Files, known_movie_ids: frozenset[int], known_viewer_ids: frozenset[int]
) -> MovieLensData:
    genres = _parse_genre_list(files)
    movies = _parse_grouplens_items(files, genres)
    viewers = _parse_viewers(files, "u.user", sep="|", header=False)
    ratings = _parse_ratings(
        files,
        "u.data",
        header=False,
        movie_ids=frozenset(movies["id"].tolist()) | known_movie_ids,
        viewer_ids=frozenset(viewers["id"].tolist()) | known_viewer_ids,
    )
    return MovieLensData(genres, movies, viewers, ratings, files.checksum)


# ------------------------------------------------------------------------------- parsing
def _table(
    files: _Files,
    member: str,
    *,
    sep: str,
    fields: int,
    encoding: str,
    header: bool,
    integers: bool = False,
) -> pd.DataFrame:
    """Split a delimited file into columns indexed by 1-based line number.

    Blank lines are skipped; any other line must have exactly ``fields`` fields. With
    ``integers``, a well-formed file comes back as int64 columns straight from pandas' C
    parser; anything unusual takes the line-by-line path, which locates the problem.
    """
    name = files.name(member)
    raw = files.read(member)
    if integers:
        table = _integer_table(raw, sep=sep, fields=fields, header=header)
        if table is not None:
            return table
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(name, line, f"is not valid {encoding} text") from exc
    rows = [line.removesuffix("\r").split(sep) for line in text.split("\n")]
    first = 2 if header else 1
    numbers = [
        number
        for number, row in enumerate(rows[first - 1 :], start=first)
        if len(row) > 1 or row[0].strip()
    ]
    if not numbers:
        raise DataFormatError(name, None, "holds no data")
    kept = [rows[number - 1] for number in numbers]
    wrong = next((n for n, row in zip(numbers, kept, strict=True) if len(row) != fields), None)
    if wrong is not None:
        separator = "tab" if sep == "\t" else repr(sep)
        raise DataFormatError(
            name,
            wrong,
            f"expected {fields} {separator}-separated fields, found {len(rows[wrong - 1])}",
        )
    return pd.DataFrame(kept, index=numbers, columns=range(fields), dtype=str)


def _integer_table(raw: bytes, *, sep: str, fields: int, header: bool) -> pd.DataFrame | None:
    """The fast path of :func:`_table`: None unless every line holds ``fields`` integers."""
    try:
        table = pd.read_csv(
            io.BytesIO(raw),
            sep=sep,
            header=None,
            skiprows=1 if header else 0,
            dtype="int64",
            engine="c",
        )
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    first = 2 if header else 1
    lines = raw.count(b"\n") + (not raw.endswith(b"\n"))
    # Row i is line first + i only if no line was skipped (blank lines are).
    if table.shape[1] != fields or len(table) != lines - first + 1:
        return None
    table.index = pd.RangeIndex(first, first + len(table))
    return table


def _integers(
    values: pd.Series, name: str, what: str, *, low: int, high: int, blank_ok: bool = False
) -> pd.Series:
    """Whole numbers in ``[low, high]`` (``"3.0"`` counts as 3); blanks become <NA>."""
    numbers = values if is_integer_dtype(values) else pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or (numbers % 1 != 0).any():
        # Slow path, only for files with blanks or a bad value: find the first bad line.
        text = values.str.strip()
        blank = text == ""
        if blank.any() and not blank_ok:
            raise DataFormatError(name, int(blank.idxmax()), f"{what} is empty")
        malformed = ~blank & ~text.str.fullmatch(_INTEGER)
        if malformed.any():
            line = int(malformed.idxmax())
            raise DataFormatError(name, line, f"{what} {text[line]!r} is not a whole number")
        numbers = pd.to_numeric(text.mask(blank), errors="raise")
    numbers = numbers.astype("Int64")
    outside = numbers.notna() & ((numbers < low) | (numbers > high))
    if outside.any():
        line = int(outside.idxmax())
        raise DataFormatError(
            name, line, f"{what} {numbers[line]} is outside the allowed range {low}–{high}"
        )
    return numbers


def _texts(values: pd.Series, name: str, what: str, *, max_length: int) -> pd.Series:
    text = values.str.strip()
    too_long = text.str.len() > max_length
    if too_long.any():
        line = int(too_long.idxmax())
        raise DataFormatError(name, line, f"{what} is longer than {max_length} characters")
    return text


def _unique_ids(ids: pd.Series, name: str, what: str) -> None:
    repeated = ids.duplicated()
    if repeated.any():
        line = int(repeated.idxmax())
        first = int(ids.index[ids == ids[line]][0])
        raise DataFormatError(
            name, line, f"{what} {ids[line]} appears again (first at line {first})"
        )


def _known(ids: pd.Series, known: frozenset[int], name: str, what: str) -> None:
    unknown = ~ids.isin(known)
    if unknown.any():
        line = int(unknown.idxmax())
        raise DataFormatError(name, line, f"{what} {ids[line]} does not exist")


def _dates(values: pd.Series, name: str, what: str) -> pd.Series:
    text = values.str.strip()
    blank = text == ""
    parsed = pd.to_datetime(text.mask(blank), format="%d-%b-%Y", errors="coerce")
    invalid = ~blank & parsed.isna()
    if invalid.any():
        line = int(invalid.idxmax())
        raise DataFormatError(name, line, f"{what} {text[line]!r} is not a date like 01-Jan-1995")
    return pd.Series(
        [None if pd.isna(day) else day.date() for day in parsed], index=values.index, dtype=object
    )


def _parse_genre_list(files: _Files) -> tuple[str, ...]:
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


def _parse_grouplens_items(files: _Files, genres: tuple[str, ...]) -> pd.DataFrame:
    name = files.name("u.item")
    table = _table(
        files, "u.item", sep="|", fields=5 + len(genres), encoding="latin-1", header=False
    )
    ids = _integers(table[0], name, "movie id", low=1, high=MAX_ID)
    _unique_ids(ids, name, "movie id")
    titles = _texts(table[1], name, "title", max_length=TITLE_MAX_LENGTH)
    release = _dates(table[2], name, "release date")
    flags = table.iloc[:, 5:]
    not_flag = ~flags.isin(["0", "1"])
    if not_flag.to_numpy().any():
        line = int(not_flag.any(axis=1).idxmax())
        raise DataFormatError(name, line, "genre flags must be 0 or 1")
    flag_matrix = flags.to_numpy() == "1"
    genre_names = np.array(genres, dtype=object)
    title_years = titles.str.extract(_YEAR_IN_TITLE, expand=False)
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
            "video_release_date": _dates(table[3], name, "video release date"),
            "imdb_url": _texts(table[4], name, "IMDb URL", max_length=URL_MAX_LENGTH),
            "genres": [tuple(genre_names[row]) for row in flag_matrix],
        },
        index=table.index,
    )


def _parse_recbole_items(files: _Files, member: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    name = files.name(member)
    table = _table(files, member, sep="\t", fields=4, encoding="utf-8", header=True)
    ids = _integers(table[0], name, "movie id", low=1, high=MAX_ID)
    _unique_ids(ids, name, "movie id")
    # RecBole writes "unkonwn" for the one movie GroupLens calls "unknown".
    placeholder = table[1].str.strip() == "unkonwn"
    titles = table[1].str.strip().mask(placeholder, "unknown")
    # The year column also holds RecBole's placeholder and, once, a format note ("V")
    # that GroupLens keeps in the title: "Land Before Time III: … (1995) (V)".
    year_text = table[2].str.strip().mask(table[2].str.strip() == "unkonwn", "")
    full_titles = titles.where(year_text == "", titles + " (" + year_text + ")")
    years = pd.to_numeric(full_titles.str.extract(_YEAR_IN_TITLE, expand=False)).astype("Int64")
    genre_lists = table[3].str.split().map(tuple)
    known = set(GROUPLENS_GENRES)
    extra = sorted({g for names in genre_lists for g in names} - known)
    movies = pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "title": _texts(full_titles, name, "title", max_length=TITLE_MAX_LENGTH),
            "year": years,
            "release_date": None,
            "video_release_date": None,
            "imdb_url": "",
            "genres": genre_lists,
        },
        index=table.index,
    )
    return movies, GROUPLENS_GENRES + tuple(extra)


def _parse_viewers(files: _Files, member: str, *, sep: str, header: bool) -> pd.DataFrame:
    name = files.name(member)
    table = _table(files, member, sep=sep, fields=5, encoding="latin-1", header=header)
    ids = _integers(table[0], name, "user id", low=1, high=MAX_ID)
    _unique_ids(ids, name, "user id")
    gender = table[2].str.strip()
    wrong_gender = ~gender.isin(GENDERS)
    if wrong_gender.any():
        line = int(wrong_gender.idxmax())
        raise DataFormatError(name, line, f"gender {gender[line]!r} is not M or F")
    return pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "age": _integers(table[1], name, "age", low=0, high=MAX_AGE).astype("int64"),
            "gender": gender,
            "occupation": _texts(table[3], name, "occupation", max_length=TEXT_MAX_LENGTH),
            "zip_code": _texts(table[4], name, "zip code", max_length=16),
        },
        index=table.index,
    )


def _parse_ratings(
    files: _Files,
    member: str,
    *,
    header: bool,
    movie_ids: frozenset[int],
    viewer_ids: frozenset[int],
) -> pd.DataFrame:
    name = files.name(member)
    table = _table(
        files, member, sep="\t", fields=4, encoding="latin-1", header=header, integers=True
    )
    viewers = _integers(table[0], name, "user id", low=1, high=MAX_ID)
    movies = _integers(table[1], name, "movie id", low=1, high=MAX_ID)
    scores = _integers(table[2], name, "rating", low=1, high=5)
    stamps = _integers(table[3], name, "timestamp", low=0, high=MAX_TIMESTAMP)
    _known(viewers, viewer_ids, name, "user id")
    _known(movies, movie_ids, name, "movie id")
    ratings = pd.DataFrame(
        {
            "viewer_id": viewers.astype("int64"),
            "movie_id": movies.astype("int64"),
            "score": scores.astype("int16"),
            "timestamp": stamps.astype("int64"),
        },
        index=table.index,
    )
    repeated = ratings.duplicated(["viewer_id", "movie_id"])
    if repeated.any():
        line = int(repeated.idxmax())
        pair = ratings.loc[line]
        raise DataFormatError(
            name,
            line,
            f"user {pair.viewer_id} rates movie {pair.movie_id} a second time",
        )
    return ratings
