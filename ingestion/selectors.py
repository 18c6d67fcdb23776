"""Reads over the MovieLens data."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db import connection
from django.db.models import BigIntegerField, Func, QuerySet

from .models import Genre, Movie, Rating, Viewer

COUNTS_CACHE_KEY = "ingestion:dataset-counts"
COUNTS_CACHE_SECONDS = 30


def dataset_counts() -> dict[str, int]:
    """Rows per table; cached briefly because counting a large ratings table is not free."""
    counts = cache.get(COUNTS_CACHE_KEY)
    if counts is None:
        counts = {
            "genres": Genre.objects.count(),
            "movies": Movie.objects.count(),
            "viewers": Viewer.objects.count(),
            "ratings": Rating.objects.count(),
        }
        cache.set(COUNTS_CACHE_KEY, counts, COUNTS_CACHE_SECONDS)
    return counts


def rating_snapshot() -> dict[str, object]:
    """What a training run will see: counts, the newest rating, the highest rating id.

    ``max_rating_id`` pins the rows of a run, so that every stage of a retrain reads the
    same ratings even while new ones arrive through the API. ``ratings_changed_at`` (the
    latest write of any rating, insert or update; one index lookup) together with the
    count and ``max_rating_id`` tells whether the ratings changed since another snapshot.
    """
    newest = Rating.objects.order_by("-rated_at").values_list("rated_at", flat=True).first()
    changed = Rating.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()
    return {
        "ratings": Rating.objects.count(),
        "viewers": Viewer.objects.count(),
        "movies": Movie.objects.count(),
        "newest_rating_at": newest.isoformat() if newest else None,
        "max_rating_id": Rating.objects.order_by("-id").values_list("id", flat=True).first(),
        "ratings_changed_at": changed.isoformat() if changed else None,
    }


#: The snapshot entries that change whenever a rating is inserted, updated or deleted.
RATING_VERSION_KEYS = ("ratings", "max_rating_id", "ratings_changed_at")


def ratings_changed_since(snapshot: dict[str, object]) -> bool:
    """Whether any rating was inserted, updated or deleted since ``snapshot`` was taken.

    A snapshot from before ``ratings_changed_at`` existed counts as changed.
    """
    current = rating_snapshot()
    return any(snapshot.get(key) != current[key] for key in RATING_VERSION_KEYS)


class UnixSeconds(Func):
    """A timestamp column as whole unix seconds, computed by the database.

    Reading epochs instead of datetimes skips Django's per-row datetime parsing, which
    dominates the cost of reading a viewer's history on SQLite.
    """

    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        return self.as_sql(
            # '%%%%s' survives two rounds of %-formatting (template, then parameters).
            compiler,
            connection,
            template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)",
        )

    def as_postgresql(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        return self.as_sql(
            compiler, connection, template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)"
        )


def ratings_frame(
    *, max_rating_id: int | None = None, viewer_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Ratings as a frame: ``user_id``, ``item_id``, ``rating``, ``timestamp`` (unix s).

    One query (``max_rating_id`` pins a training run's rows; ``viewer_ids`` reads only
    those viewers' histories through the history index).
    """
    if viewer_ids is not None and max_rating_id is None:
        rows = _viewer_histories(sorted(set(viewer_ids)))
    else:
        queryset = Rating.objects.all()
        if max_rating_id is not None:
            queryset = queryset.filter(id__lte=max_rating_id)
        if viewer_ids is not None:
            queryset = queryset.filter(viewer_id__in=viewer_ids)
        rows = list(_rating_rows(queryset).iterator(chunk_size=20_000))
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pd.DataFrame(
        {
            "user_id": np.array(columns[0], dtype=np.int64),
            "item_id": np.array(columns[1], dtype=np.int64),
            "rating": np.array(columns[2], dtype=np.float32),
            "timestamp": np.array(columns[3], dtype=np.int64),
        }
    )


def _rating_rows(queryset: QuerySet[Rating]) -> QuerySet[Rating]:
    return queryset.order_by().values_list(
        "viewer_id", "movie_id", "score", UnixSeconds("rated_at")
    )


def history_versions(*, viewer_ids: Sequence[int]) -> dict[int, int]:
    """``Viewer.history_version`` of each of these viewers; unknown ids are left out."""
    return dict(_fetch_for_viewers(_version_rows, sorted(set(viewer_ids))))


def _history_rows(viewer_ids: Iterable[int]) -> QuerySet[Rating]:
    return _rating_rows(Rating.objects.filter(viewer_id__in=viewer_ids))


def _version_rows(viewer_ids: Iterable[int]) -> QuerySet[Viewer]:
    return Viewer.objects.filter(id__in=viewer_ids).order_by().values_list("id", "history_version")


def _viewer_histories(viewer_ids: list[int]) -> list[tuple]:
    return _fetch_for_viewers(_history_rows, viewer_ids)


def _fetch_for_viewers(
    build: Callable[[Iterable[int]], QuerySet], viewer_ids: list[int]
) -> list[tuple]:
    """Rows of ``build(viewer_ids)``, run as raw SQL compiled once per list length.

    Serving runs these per request; compiling the same ORM query every time costs more
    than running it.
    """
    if not viewer_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_compiled_sql(build, len(viewer_ids)), viewer_ids)
        return cursor.fetchall()


@functools.lru_cache(maxsize=128)
def _compiled_sql(build: Callable[[Iterable[int]], QuerySet], n_viewers: int) -> str:
    return build(range(n_viewers)).query.sql_with_params()[0]


def movies_frame() -> pd.DataFrame:
    """Movies as a frame: ``item_id``, ``title``, ``year`` (float), ``genres`` (tuple)."""
    genres: dict[int, list[str]] = {}
    for movie_id, name in Movie.genres.through.objects.values_list("movie_id", "genre__name"):
        genres.setdefault(movie_id, []).append(name)
    movies = pd.DataFrame(
        list(Movie.objects.order_by("id").values_list("id", "title", "year")),
        columns=["item_id", "title", "year"],
    )
    movies["year"] = movies["year"].astype("float64")
    movies["genres"] = [tuple(sorted(genres.get(i, ()))) for i in movies["item_id"]]
    return movies


def viewers_frame() -> pd.DataFrame:
    """Viewers as a frame: ``user_id``, ``age``, ``gender``, ``occupation``, ``zip_code``."""
    return pd.DataFrame(
        list(
            Viewer.objects.order_by("id").values_list(
                "id", "age", "gender", "occupation", "zip_code"
            )
        ),
        columns=["user_id", "age", "gender", "occupation", "zip_code"],
    )
