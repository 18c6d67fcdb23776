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

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from common.bulk import UnsupportedDatabase

from . import downloads
from .models import CatalogueVersion, DataOverviewSnapshot, DatasetImport, Movie, Rating, Viewer
from .overview import OVERVIEW_MIN_RATINGS, OVERVIEW_TOP, overview_aggregate, overview_document
from .release_writes import ImportProgress, release_write
from .sources.base import DataFormatError, MovieLensData, MovieLensRelease
from .sources.grouplens import read_grouplens_folder, read_grouplens_zip
from .sources.layout import open_release
from .sources.recbole import RECBOLE_REQUIREMENT, read_recbole_wheel

logger = logging.getLogger(__name__)

Source = DatasetImport.Source
#: Viewer ids per UPDATE when history versions are bumped.
VIEWER_IDS_PER_UPDATE = 10_000
Reader = Callable[..., AbstractContextManager[MovieLensRelease]]


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
            written = release_write(release, progress)
            # Bulk writes go around rating_upsert: the viewers whose ratings were really
            # written get new history versions, nobody else's cached answers change.
            if written.changed_viewers:
                viewer_histories_changed(viewer_ids=written.changed_viewers)
            if written.catalogue_changed:
                # A movie loaded again after a deletion, or a changed title.
                catalogue_changed()
        record.checksum = release.checksum()
        record.viewers_read, record.ratings_read = written.viewers, written.ratings
        record.ratings_created, record.ratings_updated = written.created, written.updated
        timings["write"] = _lap(clock)
        clock = time.perf_counter()
        data_overview_refresh()
        timings["overview"] = _lap(clock)
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


def data_overview_refresh() -> DataOverviewSnapshot:
    """Aggregate the data overview and store it as the dashboard's snapshot (what a large
    ratings table shows instead of aggregating on every page view)."""
    overview = overview_aggregate(top=OVERVIEW_TOP, min_ratings=OVERVIEW_MIN_RATINGS)
    with transaction.atomic():
        DataOverviewSnapshot.objects.all().delete()
        return DataOverviewSnapshot.objects.create(
            computed_at=timezone.now(), document=overview_document(overview)
        )


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


class UnknownMovie(ValueError):
    pass


class InvalidRatingTime(ValueError):
    pass


class ViewerCreationRefused(PermissionError):
    pass


#: Ratings are dated from the Unix epoch on (MovieLens' own timestamps are epochs).
EARLIEST_RATED_AT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: How far in the future a client's clock may be: a later date would stay at the top of
#: the viewer's history and shift every time-based feature.
RATED_AT_CLOCK_SKEW = dt.timedelta(minutes=5)


def rated_at_check(rated_at: dt.datetime) -> None:
    """Refuse a rating time before 1970 or beyond the clock skew in the future."""
    if rated_at < EARLIEST_RATED_AT:
        raise InvalidRatingTime(f"must not be before {EARLIEST_RATED_AT.isoformat()}")
    latest = timezone.now() + RATED_AT_CLOCK_SKEW
    if rated_at > latest:
        raise InvalidRatingTime(
            f"must not be in the future (at most {RATED_AT_CLOCK_SKEW.seconds // 60} minutes "
            "of clock skew)"
        )


def viewer_histories_changed(*, viewer_ids: Iterable[int] | None) -> None:
    """Mark these viewers' (or, with None, every viewer's) ratings as changed.

    Cached recommendations are keyed by ``Viewer.history_version`` and the nightly retrain
    compares its total, so every write of ratings (the services here, the admin, bulk
    loads) calls this in the same transaction. Deleting a viewer needs no call: the
    viewer, their ratings and their version go together (and the viewer count changes).
    """
    bump = {"history_version": F("history_version") + 1}
    if viewer_ids is None:
        Viewer.objects.update(**bump)
        return
    ids = sorted(set(viewer_ids))
    # In slices: SQLite limits the parameters of one statement (32,766).
    for start in range(0, len(ids), VIEWER_IDS_PER_UPDATE):
        Viewer.objects.filter(id__in=ids[start : start + VIEWER_IDS_PER_UPDATE]).update(**bump)


def catalogue_changed() -> None:
    """Mark the catalogue as changed (movies removed): cached answers keyed by the old
    version are never served again. Call it in the transaction that changes it."""
    row = CatalogueVersion.objects.filter(pk=1)
    if row.update(version=F("version") + 1):
        return
    # No row yet (or a flushed database): start at the clock, so that a version never
    # comes back, and still increment when another transaction created it meanwhile.
    _, created = CatalogueVersion.objects.get_or_create(
        pk=1, defaults={"version": time.time_ns() // 1000}
    )
    if not created:
        row.update(version=F("version") + 1)


def rating_upsert(
    *,
    viewer_id: int,
    movie_id: int,
    score: float,
    rated_at: dt.datetime | None = None,
    create_viewer: bool = True,
) -> tuple[Rating, bool]:
    """Create or update one rating; a viewer seen for the first time is created (unless
    ``create_viewer`` is false: :class:`ViewerCreationRefused` then).

    Raises :class:`InvalidRatingTime` for a ``rated_at`` before 1970 or in the future.
    Returns the rating and whether it is new. Serving reads histories live and this
    bumps the viewer's history version, so the next recommendation already reflects it.
    """
    if rated_at is not None:
        rated_at_check(rated_at)
    if not Movie.objects.filter(id=movie_id).exists():
        raise UnknownMovie(f"movie {movie_id} does not exist")
    with transaction.atomic():
        # A viewer deleted and created again must not reuse its predecessor's versions
        # (cached answers are keyed by them): a new viewer's count starts at the clock.
        if create_viewer:
            Viewer.objects.get_or_create(
                id=viewer_id, defaults={"history_version": time.time_ns() // 1000}
            )
        elif not Viewer.objects.filter(id=viewer_id).exists():
            raise ViewerCreationRefused(
                f"viewer {viewer_id} does not exist, and this client may not create viewers"
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
    """Delete these movies and their ratings; the histories of whoever rated them change,
    and so does the catalogue version (no answer, cached or not, names them again)."""
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
        # Other viewers' cached answers may hold these movies too.
        catalogue_changed()
