"""Writing a validated MovieLens release into the tables, set-based and in chunks.

No Python object per row: frames go through ``common.bulk`` (COPY on PostgreSQL). The
ratings of a first load (an empty ratings table) are appended without conflict checks,
indexes rebuilt at the end; later loads upsert chunk by chunk. The caller
(``services.movielens_import``) owns the transaction and bumps the versions cached
answers depend on from what this reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from common.bulk import FirstLoad, UpsertCounts, first_load, upsert_frame

from .models import Genre, Movie, Rating, Tag, Viewer
from .sources.base import MovieLensRelease


class ImportProgress(Protocol):
    """What a progress display needs from the loader (the command wires tqdm to it)."""

    def begin(self, stage: str, total: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


@dataclass(frozen=True)
class WrittenRelease:
    """What a load wrote: counts for the import record, and what cached answers depend on."""

    viewers: int
    ratings: int
    created: int
    updated: int
    #: Viewers whose ratings were created or updated.
    changed_viewers: frozenset[int]
    #: A movie was created or changed (a title, a reappearing movie).
    catalogue_changed: bool


def release_write(release: MovieLensRelease, progress: ImportProgress | None) -> WrittenRelease:
    """Upsert a release's genres, movies, viewers, tags and ratings (inside the caller's
    transaction); a stored rating newer than the file's row is kept."""

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
    movie_counts = upsert_frame(
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
    counts = _write_ratings(release, stage("ratings", release.ratings_expected), seen_viewers)
    return replace(counts, catalogue_changed=bool(movie_counts.created or movie_counts.updated))


def _write_ratings(
    release: MovieLensRelease, advance: Callable[[int], None] | None, seen: list[np.ndarray]
) -> WrittenRelease:
    """Write the ratings chunk by chunk, as they are read (memory stays bounded)."""
    created = updated = read = 0
    changed: set[int] = set()
    with first_load(Rating._meta.db_table) as fresh:
        for chunk in release.rating_chunks:
            seen.append(_implied_viewers(chunk["viewer_id"], already=seen[-1]))
            counts = _write_rating_chunk(chunk.rename(columns={"timestamp": "rated_at"}), fresh,
                                         advance)  # fmt: skip
            created, updated = created + counts.created, updated + counts.updated
            changed |= counts.changed
            read += len(chunk)
    viewers = len(release.viewers) or len(np.unique(np.concatenate(seen)))
    return WrittenRelease(
        viewers=viewers,
        ratings=read,
        created=created,
        updated=updated,
        changed_viewers=frozenset(changed),
        catalogue_changed=False,
    )


def _write_rating_chunk(
    ratings: pd.DataFrame, fresh: FirstLoad | None, advance: Callable[[int], None] | None
) -> UpsertCounts:
    if fresh is not None:
        return fresh.insert(
            ratings, epoch_columns=["rated_at"], report="viewer_id", on_batch=advance
        )
    return upsert_frame(
        Rating._meta.db_table,
        ratings,
        key=["viewer_id", "movie_id"],
        epoch_columns=["rated_at"],
        # A rating changed since the file was written (through the API, the admin)
        # is newer than the file's row and stays as it is.
        only_newer="rated_at",
        report="viewer_id",
        on_batch=advance,
    )


def _implied_viewers(viewer_ids: pd.Series, already: np.ndarray | None = None) -> np.ndarray:
    """Create the viewers a release names only in its ratings or tags (no demographics);
    viewers already stored keep theirs. Returns the distinct ids.

    ``already``: the ids the previous chunk made sure of (in a file sorted by viewer, as
    the releases are, each viewer is then sent once rather than once per chunk)."""
    distinct = np.unique(viewer_ids.to_numpy(dtype=np.int64))
    new = distinct if already is None else np.setdiff1d(distinct, already, assume_unique=True)
    if len(new):
        upsert_frame(Viewer._meta.db_table, pd.DataFrame({"id": new}), key=["id"])
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
