"""Loading MovieLens into the database: resolve a source, read it, write it atomically.

``movielens_import`` is the one entry point; the ``loadml100k`` and ``loadmovielens``
commands only parse arguments and print. Every attempt leaves a ``DatasetImport`` row,
and a failed attempt leaves the catalogue, viewers and ratings exactly as they were.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from common.bulk import UnsupportedDatabase, upsert_frame

from . import downloads
from .models import DatasetImport, Genre, Movie, Rating, Tag, Viewer
from .sources.base import DataFormatError, MovieLensData, MovieLensRelease
from .sources.grouplens import read_grouplens_folder, read_grouplens_zip
from .sources.layout import open_release
from .sources.recbole import RECBOLE_REQUIREMENT, read_recbole_wheel

logger = logging.getLogger(__name__)

Source = DatasetImport.Source
Reader = Callable[..., AbstractContextManager[MovieLensRelease]]


class ImportProgress(Protocol):
    """What a progress display needs from the loader (the command wires tqdm to it)."""

    def begin(self, stage: str, total: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


class DatasetImportError(Exception):
    """The load failed; the message is one line meant for the operator."""

    def __init__(self, message: str, dataset_import: DatasetImport) -> None:
        super().__init__(message)
        self.dataset_import = dataset_import


@dataclass(frozen=True)
class ResolvedSource:
    source: str
    location: str
    path: Path
    reader: Reader


def _whole(read: Callable[..., MovieLensData]) -> Reader:
    """A reader of a whole MovieLens-100k data set, as a release (ratings in one chunk)."""

    @contextmanager
    def opened(path: Path, **known: frozenset[int]) -> Iterator[MovieLensRelease]:
        yield read(path, **known).as_release()

    return opened


def default_folder() -> Path:
    return Path(settings.VIDEOREC_DATA_DIR) / "ml-100k"


def download_cache() -> Path:
    return Path(settings.VIDEOREC_DATA_DIR) / "downloads"


def movielens_source_resolve(*, source: str, path: Path | None = None) -> ResolvedSource:
    """Turn the operator's choice into a readable file or folder, downloading if needed.

    ``auto`` tries, in order: the ``data/ml-100k`` folder, a cached download, the GroupLens
    download, and the ``recbole`` wheel from the package index. ``release`` reads any
    MovieLens release's folder or zip, its layout told by its files.
    """
    cache = download_cache()
    if source == Source.RELEASE:
        if path is None:
            raise ValueError("the release source needs the path of a folder or zip")
        return ResolvedSource(Source.RELEASE, str(path), Path(path), open_release)
    if source == Source.PATH:
        folder = Path(path) if path else default_folder()
        return ResolvedSource(Source.PATH, str(folder), folder, _whole(read_grouplens_folder))
    if source == Source.ZIP:
        if path is None:
            raise ValueError("the zip source needs the path of ml-100k.zip")
        return ResolvedSource(Source.ZIP, str(path), Path(path), _whole(read_grouplens_zip))
    if source == Source.GROUPLENS:
        url = settings.VIDEOREC_GROUPLENS_URL
        archive = downloads.download_grouplens_zip(
            cache, url=url, timeout=settings.VIDEOREC_DOWNLOAD_TIMEOUT
        )
        return ResolvedSource(Source.GROUPLENS, url, archive, _whole(read_grouplens_zip))
    if source == Source.PYPI:
        wheel = downloads.download_recbole_wheel(cache)
        return ResolvedSource(
            Source.PYPI,
            f"{RECBOLE_REQUIREMENT} ({wheel})",
            wheel,
            _whole(read_recbole_wheel),
        )
    if source != Source.AUTO:
        raise ValueError(f"unknown source {source!r}")
    if (default_folder() / "u.data").is_file():
        return movielens_source_resolve(source=Source.PATH, path=default_folder())
    if downloads.cached_grouplens_zip(cache) or not downloads.cached_recbole_wheel(cache):
        try:
            return movielens_source_resolve(source=Source.GROUPLENS)
        except downloads.DownloadError as exc:
            logger.warning("%s; trying the copy on PyPI instead", exc)
    return movielens_source_resolve(source=Source.PYPI)


def movielens_import(
    *,
    source: str = Source.AUTO,
    path: Path | None = None,
    progress: ImportProgress | None = None,
) -> DatasetImport:
    """Load MovieLens from ``source`` in one transaction and record the attempt.

    Raises :class:`DatasetImportError` with a one-line message when anything is wrong; the
    database is then unchanged apart from the failed ``DatasetImport`` row. Big rating
    files are read while they are written, so the "write" timing includes their reading.
    """
    record = DatasetImport.objects.create(source=source, location=str(path or ""))
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    try:
        resolved = movielens_source_resolve(source=source, path=path)
        record.source, record.location = resolved.source, resolved.location
        timings["fetch"] = _lap(clock)

        clock = time.perf_counter()
        known = {
            "known_movie_ids": frozenset(Movie.objects.values_list("id", flat=True)),
            "known_viewer_ids": frozenset(Viewer.objects.values_list("id", flat=True)),
        }
        with resolved.reader(resolved.path, **known) as release, transaction.atomic():
            record.genres_read, record.movies_read = len(release.genres), len(release.movies)
            timings["read"] = _lap(clock)
            clock = time.perf_counter()
            written = _write(release, progress)
        record.checksum = release.checksum()
        record.viewers_read, record.ratings_read = written.viewers, written.ratings
        record.ratings_created, record.ratings_updated = written.created, written.updated
        timings["write"] = _lap(clock)
    except (
        DataFormatError,
        downloads.DownloadError,
        UnsupportedDatabase,
        DatabaseError,
        ValueError,
    ) as exc:
        _finish(record, DatasetImport.Status.FAILED, timings, error=str(exc))
        raise DatasetImportError(str(exc), record) from exc
    _finish(record, DatasetImport.Status.SUCCEEDED, timings)
    return record


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def _finish(
    record: DatasetImport, status: str, timings: dict[str, float], *, error: str = ""
) -> None:
    record.status = status
    record.timings = timings
    record.error_message = error
    record.finished_at = timezone.now()
    record.save()


@dataclass(frozen=True)
class _Written:
    viewers: int
    ratings: int
    created: int
    updated: int


def _write(release: MovieLensRelease, progress: ImportProgress | None) -> _Written:
    def stage(name: str, total: int | None) -> Callable[[int], None] | None:
        if progress is None:
            return None
        progress.begin(name, total)
        return progress.advance

    upsert_frame(
        Genre._meta.db_table,
        pd.DataFrame({"name": list(release.genres)}),
        key=["name"],
    )
    genre_ids = dict(Genre.objects.filter(name__in=release.genres).values_list("name", "id"))

    movies = release.movies
    upsert_frame(
        Movie._meta.db_table,
        movies.drop(columns="genres").assign(
            release_date=_iso_dates(movies["release_date"]),
            video_release_date=_iso_dates(movies["video_release_date"]),
        ),
        key=["id"],
        on_batch=stage("movies", len(movies)),
    )
    if len(release.viewers):
        upsert_frame(
            Viewer._meta.db_table,
            release.viewers,
            key=["id"],
            on_batch=stage("viewers", len(release.viewers)),
        )
    _replace_movie_genres(movies, genre_ids)
    seen_viewers = [_implied_viewers(release.tags["viewer_id"])]
    if len(release.tags):
        upsert_frame(
            Tag._meta.db_table,
            release.tags.rename(columns={"timestamp": "tagged_at"}),
            key=["movie_id", "viewer_id", "text"],
            epoch_columns=["tagged_at"],
        )
    written = _write_ratings(release, stage("ratings", release.ratings_expected), seen_viewers)
    if written.created or written.updated:
        # Bulk writes go around rating_upsert; a load that changed anything is rare
        # enough to simply invalidate every viewer's cached answers.
        viewer_histories_changed(viewer_ids=None)
    return written


def _write_ratings(
    release: MovieLensRelease, advance: Callable[[int], None] | None, seen: list[np.ndarray]
) -> _Written:
    """Write the ratings chunk by chunk, as they are read (memory stays bounded)."""
    created = updated = read = 0
    for chunk in release.rating_chunks:
        seen.append(_implied_viewers(chunk["viewer_id"]))
        ratings = chunk.rename(columns={"timestamp": "rated_at"})
        counts = upsert_frame(
            Rating._meta.db_table,
            ratings,
            key=["viewer_id", "movie_id"],
            epoch_columns=["rated_at"],
            on_batch=advance,
        )
        created, updated = created + counts.created, updated + counts.updated
        read += len(chunk)
    viewers = len(release.viewers) or len(np.unique(np.concatenate(seen)))
    return _Written(viewers=viewers, ratings=read, created=created, updated=updated)


def _implied_viewers(viewer_ids: pd.Series) -> np.ndarray:
    """Create the viewers a release names only in its ratings or tags (no demographics);
    viewers already stored keep theirs. Returns the distinct ids."""
    distinct = np.unique(viewer_ids.to_numpy(dtype=np.int64))
    if len(distinct):
        upsert_frame(Viewer._meta.db_table, pd.DataFrame({"id": distinct}), key=["id"])
    return distinct


def _replace_movie_genres(movies: pd.DataFrame, genre_ids: dict[str, int]) -> None:
    """Make each loaded movie's genres exactly those of the file."""
    through = Movie.genres.through
    wanted = (
        movies[["id", "genres"]]
        .explode("genres")
        .dropna()
        .rename(columns={"id": "movie_id"})
        .assign(genre_id=lambda f: f["genres"].map(genre_ids).astype("int64"))[
            ["movie_id", "genre_id"]
        ]
    )
    existing = pd.DataFrame(
        list(through.objects.values_list("id", "movie_id", "genre_id")),
        columns=["id", "movie_id", "genre_id"],
    )
    stale = existing[existing["movie_id"].isin(movies["id"])].merge(
        wanted, on=["movie_id", "genre_id"], how="left", indicator=True
    )
    stale_ids = stale.loc[stale["_merge"] == "left_only", "id"].tolist()
    if stale_ids:
        through.objects.filter(id__in=stale_ids).delete()
    upsert_frame(through._meta.db_table, wanted, key=["movie_id", "genre_id"])


def _iso_dates(values: pd.Series) -> pd.Series:
    return values.map(lambda day: day.isoformat() if day is not None else None)


class UnknownMovie(ValueError):
    pass


def viewer_histories_changed(*, viewer_ids: Iterable[int] | None) -> None:
    """Mark these viewers' (or, with None, every viewer's) ratings as changed.

    Cached recommendations are keyed by ``Viewer.history_version`` and the nightly retrain
    compares its total, so every write of ratings (the services here, the admin, bulk
    loads) calls this in the same transaction. Deleting a viewer needs no call: the
    viewer, their ratings and their version go together (and the viewer count changes).
    """
    viewers = Viewer.objects.all()
    if viewer_ids is not None:
        viewers = viewers.filter(id__in=viewer_ids)
    viewers.update(history_version=F("history_version") + 1)


def rating_upsert(
    *, viewer_id: int, movie_id: int, score: float, rated_at: dt.datetime | None = None
) -> tuple[Rating, bool]:
    """Create or update one rating; a viewer seen for the first time is created.

    Returns the rating and whether it is new. Serving reads histories live and this
    bumps the viewer's history version, so the next recommendation already reflects it.
    """
    if not Movie.objects.filter(id=movie_id).exists():
        raise UnknownMovie(f"movie {movie_id} does not exist")
    with transaction.atomic():
        # A viewer deleted and created again must not reuse its predecessor's versions
        # (cached answers are keyed by them): a new viewer's count starts at the clock.
        Viewer.objects.get_or_create(
            id=viewer_id, defaults={"history_version": time.time_ns() // 1000}
        )
        rating, created = Rating.objects.update_or_create(
            viewer_id=viewer_id,
            movie_id=movie_id,
            defaults={"score": score, "rated_at": rated_at or timezone.now()},
        )
        viewer_histories_changed(viewer_ids=[viewer_id])
    return rating, created


def ratings_delete(*, ratings: QuerySet[Rating]) -> int:
    """Delete these ratings (their viewers' histories change); returns how many."""
    with transaction.atomic():
        viewer_ids = set(ratings.values_list("viewer_id", flat=True))
        deleted, _ = ratings.delete()
        viewer_histories_changed(viewer_ids=viewer_ids)
    return deleted


def movies_delete(*, movies: QuerySet[Movie]) -> None:
    """Delete these movies and their ratings; the histories of whoever rated them change."""
    with transaction.atomic():
        # Locked first: a rating inserted meanwhile either is seen below or waits and fails.
        movie_ids = list(
            Movie.objects.select_for_update()
            .filter(pk__in=movies.values("pk"))
            .values_list("pk", flat=True)
        )
        viewer_ids = set(
            Rating.objects.filter(movie_id__in=movie_ids).values_list("viewer_id", flat=True)
        )
        Movie.objects.filter(pk__in=movie_ids).delete()
        viewer_histories_changed(viewer_ids=viewer_ids)
