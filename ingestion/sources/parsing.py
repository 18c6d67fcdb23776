"""Parsing and validation shared by every layout: delimited tables, typed columns, and the
viewer and rating files (the same columns in GroupLens and RecBole files).

Each check raises :class:`~ingestion.sources.base.DataFormatError` at the first bad line.
"""

from __future__ import annotations

import io
import re

import pandas as pd
from pandas.api.types import is_integer_dtype

from common.ids import MAX_ID

from .base import DataFormatError, SourceFiles

MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last datetime Python can hold
MAX_AGE = 150
GENDERS = ("M", "F")
TITLE_MAX_LENGTH = 255
URL_MAX_LENGTH = 255
TEXT_MAX_LENGTH = 64

_INTEGER = re.compile(r"[+-]?\d{1,18}(\.0*)?")
# The last "(1995)" of a title; some end in a format note: "... (1995) (V)".
YEAR_IN_TITLE = re.compile(r".*\((\d{4})\)")


def read_table(
    files: SourceFiles,
    member: str,
    *,
    sep: str,
    fields: int,
    encoding: str | tuple[str, ...],
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
    text = decode_text(raw, name, encoding)
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


def decode_text(raw: bytes, name: str, encoding: str | tuple[str, ...]) -> str:
    """``raw`` decoded with the first of ``encoding`` that fits (the releases of GroupLens
    changed from latin-1 to UTF-8 over the years without saying which file is which)."""
    encodings = (encoding,) if isinstance(encoding, str) else encoding
    for candidate in encodings[:-1]:
        try:
            return raw.decode(candidate)
        except UnicodeDecodeError:
            continue
    try:
        return raw.decode(encodings[-1])
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(name, line, f"is not valid {encodings[-1]} text") from exc


def _integer_table(raw: bytes, *, sep: str, fields: int, header: bool) -> pd.DataFrame | None:
    """The fast path of :func:`read_table`: None unless every line holds ``fields`` integers."""
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


def integer_column(
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


def text_column(values: pd.Series, name: str, what: str, *, max_length: int) -> pd.Series:
    """Stripped texts of at most ``max_length`` characters."""
    text = values.str.strip()
    too_long = text.str.len() > max_length
    if too_long.any():
        line = int(too_long.idxmax())
        raise DataFormatError(name, line, f"{what} is longer than {max_length} characters")
    return text


def check_unique_ids(ids: pd.Series, name: str, what: str) -> None:
    """Refuse an id that appears on a second line, naming both lines."""
    repeated = ids.duplicated()
    if repeated.any():
        line = int(repeated.idxmax())
        first = int(ids.index[ids == ids[line]][0])
        raise DataFormatError(
            name, line, f"{what} {ids[line]} appears again (first at line {first})"
        )


def check_known_ids(ids: pd.Series, known: frozenset[int], name: str, what: str) -> None:
    """Refuse a reference to an id outside ``known``."""
    unknown = ~ids.isin(known)
    if unknown.any():
        line = int(unknown.idxmax())
        raise DataFormatError(name, line, f"{what} {ids[line]} does not exist")


def date_column(values: pd.Series, name: str, what: str) -> pd.Series:
    """GroupLens dates (``01-Jan-1995``) as ``datetime.date``; blanks become None."""
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


def gender_column(values: pd.Series, name: str) -> pd.Series:
    """``M`` or ``F`` on every line."""
    gender = values.str.strip()
    wrong = ~gender.isin(GENDERS)
    if wrong.any():
        line = int(wrong.idxmax())
        raise DataFormatError(name, line, f"gender {gender[line]!r} is not M or F")
    return gender


def parse_viewers(files: SourceFiles, member: str, *, sep: str, header: bool) -> pd.DataFrame:
    """The viewer file: id, age, gender, occupation, zip code (both layouts)."""
    name = files.name(member)
    table = read_table(files, member, sep=sep, fields=5, encoding="latin-1", header=header)
    ids = integer_column(table[0], name, "user id", low=1, high=MAX_ID)
    check_unique_ids(ids, name, "user id")
    return pd.DataFrame(
        {
            "id": ids.astype("int64"),
            "age": integer_column(table[1], name, "age", low=0, high=MAX_AGE).astype("int64"),
            "gender": gender_column(table[2], name),
            "occupation": text_column(table[3], name, "occupation", max_length=TEXT_MAX_LENGTH),
            "zip_code": text_column(table[4], name, "zip code", max_length=16),
        },
        index=table.index,
    )


def parse_ratings(
    files: SourceFiles,
    member: str,
    *,
    header: bool,
    movie_ids: frozenset[int],
    viewer_ids: frozenset[int],
) -> pd.DataFrame:
    """The rating file: viewer, movie, score 1–5, unix time; each pair rated once, and
    only movies and viewers in ``movie_ids`` / ``viewer_ids``."""
    name = files.name(member)
    table = read_table(
        files, member, sep="\t", fields=4, encoding="latin-1", header=header, integers=True
    )
    viewers = integer_column(table[0], name, "user id", low=1, high=MAX_ID)
    movies = integer_column(table[1], name, "movie id", low=1, high=MAX_ID)
    scores = integer_column(table[2], name, "rating", low=1, high=5)
    stamps = integer_column(table[3], name, "timestamp", low=0, high=MAX_TIMESTAMP)
    check_known_ids(viewers, viewer_ids, name, "user id")
    check_known_ids(movies, movie_ids, name, "movie id")
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
