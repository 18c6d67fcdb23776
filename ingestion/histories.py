"""Reads of viewers' histories for serving: the newest ratings, and what is older.

Serving reads these per request, so their cost is bounded by the number of newest ratings
asked for (plus one integer per older rating), not by the length of a history.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from . import selectors
from .models import Rating


def recent_ratings_frame(
    *, viewer_ids: Sequence[int], latest: int
) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Each viewer's ``latest`` newest ratings (a frame as ``selectors.ratings_frame``), and
    for the viewers with more, the id of every movie they rated (older ones count as seen).

    Serving reads this per request: its cost is bounded by ``latest`` rows per viewer
    plus one integer per older rating, not by the history's full rows.
    """
    ids = sorted(set(viewer_ids))
    if not ids:
        return selectors.ratings_frame(viewer_ids=[]), {}
    with connection.cursor() as cursor:
        cursor.execute(_recent_sql(len(ids), latest), [*ids, latest])
        frame = selectors.rating_rows_frame(cursor.fetchall())
    viewers, counts = np.unique(frame["user_id"].to_numpy(), return_counts=True)
    longer = viewers[counts >= latest].tolist()
    seen: dict[int, list[int]] = {viewer: [] for viewer in longer}
    for viewer, movie in selectors.fetch_for_viewers(_rated_movie_rows, longer):
        seen[viewer].append(movie)
    return frame, {viewer: np.array(movies, dtype=np.int64) for viewer, movies in seen.items()}


def _rated_movie_rows(viewer_ids: Iterable[int]) -> QuerySet[Rating]:
    return (
        Rating.objects.filter(viewer_id__in=viewer_ids)
        .order_by()
        .values_list("viewer_id", "movie_id")
    )


@functools.lru_cache(maxsize=128)
def _recent_sql(n_viewers: int, latest: int) -> str:
    """The newest ratings of ``n_viewers`` viewers, executed with their ids then ``latest``.

    One viewer (every API request) reads backwards along the history index and stops
    after ``latest`` rows; several are ranked with a window function.
    """
    ratings = Rating.objects.filter(viewer_id__in=range(n_viewers))
    if n_viewers == 1:
        query = selectors.rating_rows(ratings).order_by("-rated_at")
        sql, params = query.query.sql_with_params()
        sql, params = f"{sql} LIMIT %s", [*params, latest]
    else:
        ranked = ratings.annotate(
            recency=Window(
                RowNumber(), partition_by=[F("viewer_id")], order_by=[F("rated_at").desc(), "-id"]
            )
        )
        sql, params = selectors.rating_rows(
            ranked.filter(recency__lte=latest)
        ).query.sql_with_params()
    if list(params) != [*range(n_viewers), latest]:
        raise RuntimeError(f"unexpected parameter order of the recent-history query: {params}")
    return sql
