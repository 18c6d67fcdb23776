"""What every layout shares: the error type, the validated data set, and file access.

:class:`SourceFiles` reads the named files of one data set (from a folder or a zip) and
keeps a checksum of everything read, so a load can tell whether its input changed.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd


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

    def as_release(self) -> MovieLensRelease:
        """The same data as a :class:`MovieLensRelease` (ratings in one chunk, no tags)."""
        return MovieLensRelease(
            "ml-100k",
            self.genres,
            self.movies,
            self.viewers,
            no_tags(),
            iter([self.ratings]),
            lambda: self.checksum,
            len(self.ratings),
        )


@dataclass(frozen=True)
class MovieLensRelease:
    """A MovieLens release whose ratings are read in validated chunks, any layout.

    ``movies`` has the columns of :class:`MovieLensData` (plus ``imdb_id`` and ``tmdb_id``
    when the release has ``links.csv``); ``viewers`` is empty when the release has no user
    file (every release after ml-1m); ``tags`` has ``viewer_id``, ``movie_id``, ``text``,
    ``timestamp``. ``rating_chunks`` yields frames of ``viewer_id``, ``movie_id``, ``score``
    (stars, float), ``timestamp``, each validated with its file's line numbers as index;
    it can be consumed once, and raises :class:`DataFormatError` at the first bad line.
    ``checksum()`` covers every file once the chunks are consumed.
    """

    layout: str
    genres: tuple[str, ...]
    movies: pd.DataFrame
    viewers: pd.DataFrame
    tags: pd.DataFrame
    rating_chunks: Iterator[pd.DataFrame]
    checksum: Callable[[], str]
    #: How many ratings the chunks hold, when known before reading them (for progress).
    ratings_expected: int | None = None


def no_tags() -> pd.DataFrame:
    """The tag frame of a release without tags."""
    return pd.DataFrame(
        {
            "viewer_id": pd.Series(dtype="int64"),
            "movie_id": pd.Series(dtype="int64"),
            "text": pd.Series(dtype=object),
            "timestamp": pd.Series(dtype="int64"),
        }
    )


class SourceFiles:
    """Named raw files of one data set, and the checksum of everything read."""

    def __init__(
        self,
        read: Callable[[str], bytes | None],
        display: Callable[[str], str],
        open_stream: Callable[[str], IO[bytes] | None] | None = None,
    ) -> None:
        self._read = read
        self._display = display
        self._open = open_stream
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

    def has(self, member: str) -> bool:
        """Whether ``member`` exists (without reading it into memory when it can be opened)."""
        if self._open is None:
            return self._read(member) is not None
        stream = self._open(member)
        if stream is not None:
            stream.close()
        return stream is not None

    def open(self, member: str) -> IO[bytes]:
        """A binary stream of ``member`` for big files, read block by block (and checksummed
        as it is read: the checksum equals that of :meth:`read`)."""
        stream = self._open(member) if self._open else None
        if stream is None:
            raise DataFormatError(self.name(member), None, "is missing")
        self._digest.update(member.encode() + b"\0")
        return _HashingStream(stream, self._digest)

    @property
    def checksum(self) -> str:
        return self._digest.hexdigest()


class _HashingStream:
    """A read-only stream that feeds every byte it returns into a digest."""

    def __init__(self, stream: IO[bytes], digest: hashlib._Hash) -> None:
        self._stream = stream
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        block = self._stream.read(size)
        self._digest.update(block)
        return block

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _HashingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def folder_files(folder: Path) -> SourceFiles:
    """The files of a folder, named as they are (``u.data``)."""

    def read(member: str) -> bytes | None:
        path = folder / member
        return path.read_bytes() if path.exists() else None

    def open_stream(member: str) -> IO[bytes] | None:
        path = folder / member
        return path.open("rb") if path.is_file() else None

    return SourceFiles(read, lambda member: member, open_stream)


def zip_files(archive: zipfile.ZipFile, prefix: str, label: str) -> SourceFiles:
    """The members under ``prefix`` of an open zip, named ``<label>:<prefix><member>``."""
    names = set(archive.namelist())

    def read(member: str) -> bytes | None:
        name = prefix + member
        if name not in names:
            return None
        try:
            return archive.read(name)
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise OSError(str(exc)) from exc

    def open_stream(member: str) -> IO[bytes] | None:
        name = prefix + member
        return archive.open(name) if name in names else None

    return SourceFiles(read, lambda member: f"{label}:{prefix}{member}", open_stream)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip at ``path``; a missing or unreadable file is a :class:`DataFormatError`."""
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise DataFormatError(str(path), None, "does not exist") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataFormatError(str(path), None, f"is not a readable zip file ({exc})") from exc
