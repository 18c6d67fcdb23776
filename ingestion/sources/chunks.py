"""Rating files too big to hold as text: read in validated chunks, with file line numbers.

The later releases carry up to 32 million ratings. Their rating file is streamed through
pandas' C parser in chunks of :data:`RATING_CHUNK_ROWS` rows; each chunk is validated
on its own, with the absolute line number of every row as its index, so a bad line is
reported exactly as in a small file. Only an 8-byte key per rating is kept across chunks,
to refuse a viewer rating the same movie twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from common.ids import MAX_ID

from .base import DataFormatError, SourceFiles
from .parsing import MAX_TIMESTAMP, check_known_ids, integer_column

RATING_CHUNK_ROWS = 1_000_000
MIN_STARS = 0.5
MAX_STARS = 5.0
_RATING_COLUMNS = ("viewer_id", "movie_id", "score", "timestamp")
_FIELDS_IN_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_BLOCK_BYTES = 1 << 20


class DoubleColonAsTab:
    """Reads a ``::``-separated stream as tab-separated, so pandas' C parser can split it
    (pandas only splits on a multi-character separator with its slow Python engine)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._held = b""

    def read(self, size: int = -1) -> bytes:
        while True:
            fresh = self._stream.read(size if size and size > 0 else _BLOCK_BYTES)
            block, self._held = self._held + fresh, b""
            # A "::" may straddle two blocks: keep an unpaired trailing ":" for the next one.
            trailing = len(block) - len(block.rstrip(b":"))
            if fresh and trailing % 2:
                block, self._held = block[:-1], b":"
            # An empty answer means the end of the file to pandas: only give it at the end.
            if block or not fresh:
                return block.replace(b"::", b"\t")

    def close(self) -> None:
        self._stream.close()


def stars_column(values: pd.Series, name: str) -> pd.Series:
    """Ratings in stars: 0.5–5.0 in half-star steps (whole stars are a special case)."""
    numbers = values if is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        line = int(numbers.isna().idxmax())
        text = str(values[line]).strip()
        problem = "rating is empty" if text in ("", "nan") else f"rating {text!r} is not a number"
        raise DataFormatError(name, line, problem)
    outside = (numbers < MIN_STARS) | (numbers > MAX_STARS)
    if outside.any():
        line = int(outside.idxmax())
        raise DataFormatError(name, line, f"rating {numbers[line]:g} is outside 0.5–5.0")
    off_step = (numbers * 2) % 1 != 0
    if off_step.any():
        line = int(off_step.idxmax())
        raise DataFormatError(name, line, f"rating {numbers[line]:g} is not in half-star steps")
    return numbers.astype("float64")


def rating_chunks(
    files: SourceFiles,
    member: str,
    *,
    sep: str,
    header: tuple[str, ...] | None,
    movie_ids: frozenset[int],
    viewer_ids: frozenset[int] | None,
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Validated chunks of a rating file (user, movie, stars, unix time per line).

    ``header``: the column names of the first line, or None for a file without one.
    ``viewer_ids``: the viewers ratings may refer to, or None when the release has no
    user file (any positive id then creates a viewer).
    """
    name = files.name(member)
    keys: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    with files.open(member) as raw:
        stream = DoubleColonAsTab(raw) if sep == "::" else raw
        for chunk in _raw_chunks(stream, name, sep="\t" if sep == "::" else sep, header=header,
                                 chunk_rows=chunk_rows):  # fmt: skip
            ratings = _validated(chunk, name, movie_ids, viewer_ids)
            keys.append(_pair_keys(ratings))
            lines.append(ratings.index.to_numpy(dtype=np.int32))
            # Within a chunk now (one database statement must not see a pair twice),
            # across chunks once the file is read.
            _refuse_repeated_pairs(keys[-1], lines[-1], name)
            yield ratings
    if not keys:
        raise DataFormatError(name, None, "holds no ratings")
    all_keys, all_lines = np.concatenate(keys), np.concatenate(lines)
    keys.clear()
    lines.clear()
    _refuse_repeated_pairs(all_keys, all_lines, name)


def _raw_chunks(
    stream: object, name: str, *, sep: str, header: tuple[str, ...] | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    first = 2 if header else 1
    try:
        reader = pd.read_csv(
            stream,
            sep=sep,
            header=0 if header else None,
            dtype=None,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            chunksize=chunk_rows or RATING_CHUNK_ROWS,
            engine="c",
        )
        for chunk in reader:
            if header and tuple(chunk.columns) != header:
                found = ",".join(map(str, chunk.columns))
                raise DataFormatError(name, 1, f"header {found!r} is not {','.join(header)!r}")
            if chunk.shape[1] != len(_RATING_COLUMNS):
                raise DataFormatError(name, first, f"expected 4 fields, found {chunk.shape[1]}")
            chunk.columns = list(_RATING_COLUMNS)
            chunk.index = pd.RangeIndex(first, first + len(chunk))
            first += len(chunk)
            yield _without_blank_lines(chunk)
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError(name, None, "holds no data") from exc
    except pd.errors.ParserError as exc:
        raise parser_error(exc, name) from exc


def parser_error(exc: pd.errors.ParserError, name: str) -> DataFormatError:
    """pandas' tokenizer error as a :class:`DataFormatError` (its line numbers count from
    the file's first line, header included, as ours do)."""
    found = _FIELDS_IN_LINE.search(str(exc))
    if found is None:
        return DataFormatError(name, None, f"cannot be parsed ({exc})")
    expected, line, saw = found.groups()
    return DataFormatError(name, int(line), f"expected {expected} fields, found {saw}")


def _without_blank_lines(chunk: pd.DataFrame) -> pd.DataFrame:
    # A blank line makes every column text, so an all-numeric chunk has none.
    if all(is_numeric_dtype(chunk[column]) for column in chunk.columns):
        return chunk
    blank = (chunk.astype(str).apply(lambda column: column.str.strip()) == "").all(axis=1)
    return chunk[~blank]


def _validated(
    chunk: pd.DataFrame, name: str, movie_ids: frozenset[int], viewer_ids: frozenset[int] | None
) -> pd.DataFrame:
    viewers = integer_column(chunk["viewer_id"], name, "user id", low=1, high=MAX_ID)
    movies = integer_column(chunk["movie_id"], name, "movie id", low=1, high=MAX_ID)
    scores = stars_column(chunk["score"], name)
    stamps = integer_column(chunk["timestamp"], name, "timestamp", low=0, high=MAX_TIMESTAMP)
    if viewer_ids is not None:
        check_known_ids(viewers, viewer_ids, name, "user id")
    check_known_ids(movies, movie_ids, name, "movie id")
    return pd.DataFrame(
        {
            "viewer_id": viewers.astype("int64"),
            "movie_id": movies.astype("int64"),
            "score": scores,
            "timestamp": stamps.astype("int64"),
        },
        index=chunk.index,
    )


def _pair_keys(ratings: pd.DataFrame) -> np.ndarray:
    # Ids stay below 2**31 (common.ids.MAX_ID), so one int64 holds the pair.
    return (ratings["viewer_id"].to_numpy() << 32) | ratings["movie_id"].to_numpy()


def _refuse_repeated_pairs(keys: np.ndarray, lines: np.ndarray, name: str) -> None:
    ordered = np.sort(keys)
    repeated_keys = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    if repeated_keys.size == 0:
        return
    # The error path: only the repeated pairs are sorted with their lines.
    involved = np.isin(keys, repeated_keys)
    keys, lines = keys[involved], lines[involved]
    order = np.argsort(keys, kind="stable")
    repeated = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    # Of all repeats, report the one whose second line comes first in the file.
    second = lines[order][repeated + 1]
    pick = int(np.argmin(second))
    key = int(keys[order][repeated[pick]])
    raise DataFormatError(
        name,
        int(second[pick]),
        f"user {key >> 32} rates movie {key & 0xFFFFFFFF} a second time "
        f"(first at line {int(lines[order][repeated[pick]])})",
    )
