"""Reads over the MovieLens data."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db import connection
from django.db.models import BigIntegerField, Count, Func, QuerySet, Sum, Value

from .models import (
    CatalogueVersion,
    Genre,
    Movie,
    Rating,
    Tag,
    Viewer,
)

COUNTS_CACHE_KEY = "ingestion:dataset-counts"
COUNTS_CACHE_SECONDS = 30


#: Above this many rows (by the planner's estimate) a count is the estimate: counting
#: 25 million ratings exactly takes seconds, and a list or a dashboard needs the magnitude.
EXACT_COUNT_UP_TO = 100_000


def dataset_counts() -> dict[str, int]:
    """Rows per table (estimated above ``EXACT_COUNT_UP_TO`` on PostgreSQL); cached briefly."""
    counts = cache.get(COUNTS_CACHE_KEY)
    if counts is None:
        tables = {"genres": Genre, "movies": Movie, "viewers": Viewer, "ratings": Rating}
        estimates = _table_estimates([model._meta.db_table for model in tables.values()])
        counts = {}
        for name, model in tables.items():
            estimate = estimates.get(model._meta.db_table, 0)
            counts[name] = estimate if estimate > EXACT_COUNT_UP_TO else model.objects.count()
        cache.set(COUNTS_CACHE_KEY, counts, COUNTS_CACHE_SECONDS)
    return counts


def _table_estimates(tables: list[str]) -> dict[str, int]:
    """PostgreSQL's row estimates of whole tables, in one query (none elsewhere)."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE oid = ANY(%s::regclass[])",
            [tables],
        )
        return dict(cursor.fetchall())


def row_count(queryset: QuerySet) -> int:
    """The rows of ``queryset``: PostgreSQL's planner estimate when that is over
    ``EXACT_COUNT_UP_TO`` rows, else (and on SQLite) an exact ``COUNT(*)``."""
    estimate = planner_row_estimate(queryset)
    if estimate is not None and estimate > EXACT_COUNT_UP_TO:
        return estimate
    return queryset.count()


def planner_row_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows ``queryset`` returns (``EXPLAIN``; statistics
    kept by ANALYZE and autovacuum); None on other databases."""
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def rating_snapshot() -> dict[str, object]:
    """What a training run will see: counts, the newest rating, the highest rating id.

    ``max_rating_id`` pins the rows of a run, so that every stage of a retrain reads the
    same ratings even while new ones arrive through the API. ``history_version_total``
    (the sum of every viewer's ``history_version``, which each insert, update or deletion
    of a rating increments) together with the counts and ``max_rating_id`` tells whether
    the ratings changed since another snapshot (a deleted viewer lowers the total, hence
    the viewer count too).
    """
    newest = Rating.objects.order_by("-rated_at").values_list("rated_at", flat=True).first()
    return {
        "ratings": Rating.objects.count(),
        "viewers": Viewer.objects.count(),
        "movies": Movie.objects.count(),
        "newest_rating_at": newest.isoformat() if newest else None,
        "max_rating_id": Rating.objects.order_by("-id").values_list("id", flat=True).first(),
        "history_version_total": Viewer.objects.aggregate(total=Sum("history_version"))["total"]
        or 0,
    }


#: The snapshot entries that change whenever a rating is inserted, updated or deleted.
RATING_VERSION_KEYS = ("ratings", "viewers", "max_rating_id", "history_version_total")


def ratings_changed_since(snapshot: dict[str, object]) -> bool:
    """Whether any rating was inserted, updated or deleted since ``snapshot`` was taken.

    A snapshot from before ``history_version_total`` existed counts as changed.
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
        rows = list(rating_rows(queryset).iterator(chunk_size=20_000))
    return rating_rows_frame(rows)


def rating_rows_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of :func:`rating_rows` as the ratings frame of :func:`ratings_frame`."""
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pd.DataFrame(
        {
            "user_id": np.array(columns[0], dtype=np.int64),
            "item_id": np.array(columns[1], dtype=np.int64),
            "rating": np.array(columns[2], dtype=np.float32),
            "timestamp": np.array(columns[3], dtype=np.int64),
        }
    )


def rating_rows(queryset: QuerySet[Rating]) -> QuerySet[Rating]:
    return queryset.order_by().values_list(
        "viewer_id", "movie_id", "score", UnixSeconds("rated_at")
    )


def serving_versions(*, viewer_ids: Sequence[int]) -> tuple[dict[int, int], int]:
    """The viewers' history versions (unknown ids left out) and the catalogue version,
    in one query: everything a cached answer is keyed by."""
    ids = sorted(set(viewer_ids))
    if not ids:
        return {}, CatalogueVersion.objects.values_list("version", flat=True).first() or 0
    with connection.cursor() as cursor:
        cursor.execute(_compiled_sql(_serving_version_rows, len(ids)), [*ids, CATALOGUE_ROW])
        rows = cursor.fetchall()
    versions = dict(rows)
    return versions, versions.pop(CATALOGUE_ROW, 0)


#: Stands for the catalogue's row among the viewers' (viewer ids are positive).
CATALOGUE_ROW = -1


def _serving_version_rows(viewer_ids: Iterable[int]) -> QuerySet:
    catalogue = CatalogueVersion.objects.order_by().values_list(Value(CATALOGUE_ROW), "version")
    return _version_rows(viewer_ids).union(catalogue, all=True)


def catalogue_movie_ids() -> np.ndarray:
    """The id of every movie in the catalogue, sorted."""
    return np.array(sorted(Movie.objects.values_list("id", flat=True)), dtype=np.int64)


def _history_rows(viewer_ids: Iterable[int]) -> QuerySet[Rating]:
    return rating_rows(Rating.objects.filter(viewer_id__in=viewer_ids))


def _version_rows(viewer_ids: Iterable[int]) -> QuerySet[Viewer]:
    return Viewer.objects.filter(id__in=viewer_ids).order_by().values_list("id", "history_version")


def _viewer_histories(viewer_ids: list[int]) -> list[tuple]:
    return fetch_for_viewers(_history_rows, viewer_ids)


def fetch_for_viewers(
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


def movie_tags_frame() -> pd.DataFrame:
    """Tags as a content feature: ``item_id``, ``tag``, ``n_viewers`` (how many viewers
    gave the movie that tag). Empty when the loaded release has no tags."""
    rows = (
        Tag.objects.order_by()
        .values_list("movie_id", "text")
        .annotate(n=Count("viewer_id", distinct=True))
        .order_by("movie_id", "text")
    )
    return pd.DataFrame(list(rows), columns=["item_id", "tag", "n_viewers"])


def viewers_frame() -> pd.DataFrame:
    """Viewers as a frame: ``user_id``, ``age`` (float), ``gender``, ``occupation``,
    ``zip_code``; unknown demographics (every release after ml-1m) are NaN / None, so
    features see them as missing rather than as a category of their own."""
    viewers = pd.DataFrame(
        list(
            Viewer.objects.order_by("id").values_list(
                "id", "age", "gender", "occupation", "zip_code"
            )
        ),
        columns=["user_id", "age", "gender", "occupation", "zip_code"],
    )
    viewers["age"] = viewers["age"].astype("float64")
    for column in ("gender", "occupation"):
        viewers[column] = viewers[column].mask(viewers[column] == "", None)
    return viewers


def viewer_recent_ratings(*, viewer_id: int, limit: int) -> list[Rating]:
    """The viewer's latest ratings with their movies, newest first (one query)."""
    return list(
        Rating.objects.filter(viewer_id=viewer_id)
        .select_related("movie")
        .order_by("-rated_at", "-id")[:limit]
    )
