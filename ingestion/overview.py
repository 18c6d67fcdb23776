"""The dashboard's data overview: counts, ratings per month and per score, the most-rated
and best-rated movies.

On a small ratings table it is aggregated on request (cached a minute). Above
``LIVE_OVERVIEW_MAX_RATINGS`` (the planner's estimate) aggregating takes tens of seconds,
so the dashboard reads the snapshot stored after the last load (or by ``manage.py
refreshdataoverview``), dated, with live counts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max, Sum
from django.db.models.functions import TruncMonth

from .models import SCORES, DataOverviewSnapshot, Movie, Rating
from .selectors import dataset_counts, planner_row_estimate

DATA_OVERVIEW_CACHE_KEY = "ingestion:data-overview"
#: The overview aggregates every rating; a minute of staleness keeps the dashboard's
#: auto-refresh from re-scanning a large table every few seconds.
DATA_OVERVIEW_CACHE_SECONDS = 60
#: Above this many ratings the dashboard shows the stored snapshot.
LIVE_OVERVIEW_MAX_RATINGS = 1_000_000
#: Prior weight of the Bayesian mean: a movie needs about this many ratings before its
#: own mean outweighs the catalogue's.
BAYES_PRIOR_RATINGS = 20
OVERVIEW_TOP = 10
OVERVIEW_MIN_RATINGS = 50
#: The snapshot also keeps this many most-rated movies with their counts: the list served
#: before any model is trained (``most_rated_counts``).
MOST_RATED_STORED = 1000


@dataclass(frozen=True)
class RatedMovie:
    id: int
    title: str
    ratings: int
    mean: float
    bayesian_mean: float


@dataclass(frozen=True)
class DataOverview:
    counts: dict[str, int]
    #: (first day of the month, number of ratings), oldest first.
    ratings_per_month: list[tuple[dt.date, int]]
    #: Number of ratings per score: every whole star 1–5, and the half stars too when
    #: the data has any (ml-100k's chart keeps its five bars).
    score_histogram: dict[float, int]
    most_rated: list[RatedMovie]
    best_rated: list[RatedMovie]
    best_rated_min_ratings: int
    #: (movie id, ratings) of the ``MOST_RATED_STORED`` most-rated movies, most first, and
    #: the highest rating id when they were counted (None: no ratings).
    most_rated_counts: list[tuple[int, int]] = field(default_factory=list)
    last_rating_id: int | None = None
    #: When the aggregates were computed, for a stored snapshot; None when live.
    as_of: dt.datetime | None = None
    #: A large table with no snapshot yet: only the counts are known.
    pending: bool = False


def data_overview(
    *, top: int = OVERVIEW_TOP, min_ratings: int = OVERVIEW_MIN_RATINGS
) -> DataOverview:
    """The overview the dashboard shows: live (cached ``DATA_OVERVIEW_CACHE_SECONDS``) on
    a small table, else the stored snapshot (of the default ``top`` and ``min_ratings``)."""
    if (planner_row_estimate(Rating.objects.all()) or 0) <= LIVE_OVERVIEW_MAX_RATINGS:
        key = f"{DATA_OVERVIEW_CACHE_KEY}:{top}:{min_ratings}"
        overview = cache.get(key)
        if overview is None:
            overview = overview_aggregate(top=top, min_ratings=min_ratings)
            cache.set(key, overview, DATA_OVERVIEW_CACHE_SECONDS)
        return overview
    snapshot = DataOverviewSnapshot.objects.order_by("-computed_at").first()
    if snapshot is None:
        return DataOverview(dataset_counts(), [], {}, [], [], min_ratings, pending=True)
    stored = overview_from_document(snapshot.document)
    return replace(stored, counts=dataset_counts(), as_of=snapshot.computed_at)


def most_rated_counts(*, limit: int) -> list[tuple[int, int]]:
    """The ``limit`` most-rated movies with their rating counts, most first (ties: lower
    id), without counting every rating on a large table.

    A small table (at most ``LIVE_OVERVIEW_MAX_RATINGS``) is counted: one grouped scan. A
    large one reads the stored snapshot's list (made by every load and by ``manage.py
    refreshdataoverview``) and counts in the ratings added since, those with ids above the
    snapshot's highest (an index range scan over the new rows only). So ratings added
    through the API count at once. Until the next snapshot, ratings deleted are still
    counted, and a movie that was not among the ``MOST_RATED_STORED`` stays out of the list
    however many ratings it gets. With no snapshot (or an older one without the list, or
    ``limit`` above what it keeps), the table is counted.
    """
    stored = None
    if (planner_row_estimate(Rating.objects.all()) or 0) > LIVE_OVERVIEW_MAX_RATINGS:
        snapshot = DataOverviewSnapshot.objects.order_by("-computed_at").first()
        stored = overview_from_document(snapshot.document) if snapshot else None
    if stored is None or stored.last_rating_id is None or limit > MOST_RATED_STORED:
        return list(
            Rating.objects.values("movie_id")
            .annotate(n=Count("id"))
            .order_by("-n", "movie_id")
            .values_list("movie_id", "n")[:limit]
        )
    counts = dict(stored.most_rated_counts)
    added = Rating.objects.filter(id__gt=stored.last_rating_id).values("movie_id")
    for movie, n in added.annotate(n=Count("id")).order_by().values_list("movie_id", "n"):
        if movie in counts:
            counts[movie] += n
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]


def overview_aggregate(*, top: int, min_ratings: int) -> DataOverview:
    """Aggregate every rating in the database: two grouped scans of the ratings (per month
    and score; per movie), the rest from their small results."""
    # Read first: a rating added during the scans is counted again by ``most_rated_counts``
    # (one too many) rather than never.
    last_rating_id = Rating.objects.aggregate(top=Max("id"))["top"]
    cells = (
        Rating.objects.annotate(month=TruncMonth("rated_at"))
        .values("month", "score")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("month", "score", "n")
    )
    months: Counter[dt.date] = Counter()
    scores: Counter[float] = Counter()
    for month, score, n in cells:
        months[_as_date(month)] += n
        scores[score] += n
    total = sum(scores.values())
    mean = sum(score * n for score, n in scores.items()) / total if total else 0.0
    per_movie = pd.DataFrame(
        list(
            Rating.objects.values("movie_id")
            .annotate(n=Count("id"), total=Sum("score"))
            .order_by()
            .values_list("movie_id", "n", "total")
        ),
        columns=["id", "n", "total"],
    )
    per_movie = per_movie.assign(
        mean=per_movie["total"] / per_movie["n"],
        bayesian_mean=(BAYES_PRIOR_RATINGS * mean + per_movie["total"])
        / (BAYES_PRIOR_RATINGS + per_movie["n"]),
    )
    by_count = per_movie.sort_values(["n", "id"], ascending=[False, True])
    most_rated = by_count.head(top)
    best_rated = (
        per_movie[per_movie["n"] >= min_ratings]
        .sort_values(["bayesian_mean", "id"], ascending=[False, True])
        .head(top)
    )
    ids = pd.concat([most_rated["id"], best_rated["id"]]).unique().tolist()
    titles = dict(Movie.objects.filter(id__in=ids).values_list("id", "title"))
    return DataOverview(
        counts=dataset_counts(),
        ratings_per_month=sorted(months.items()),
        score_histogram=_score_histogram(scores),
        most_rated=_rated_movies(most_rated, titles),
        best_rated=_rated_movies(best_rated, titles),
        best_rated_min_ratings=min_ratings,
        most_rated_counts=[
            (int(movie), int(n))
            for movie, n in by_count[["id", "n"]].head(MOST_RATED_STORED).itertuples(index=False)
        ],
        last_rating_id=last_rating_id,
    )


def _rated_movies(rows: pd.DataFrame, titles: dict[int, str]) -> list[RatedMovie]:
    return [
        RatedMovie(
            int(row.id), titles[row.id], int(row.n), float(row.mean), float(row.bayesian_mean)
        )
        for row in rows.itertuples()
    ]


def overview_document(overview: DataOverview) -> dict:
    """The overview as JSON-ready data, for the stored snapshot."""
    return {
        "ratings_per_month": [[month.isoformat(), n] for month, n in overview.ratings_per_month],
        "score_histogram": [[score, n] for score, n in overview.score_histogram.items()],
        "most_rated": [asdict(movie) for movie in overview.most_rated],
        "best_rated": [asdict(movie) for movie in overview.best_rated],
        "best_rated_min_ratings": overview.best_rated_min_ratings,
        "most_rated_counts": [list(pair) for pair in overview.most_rated_counts],
        "last_rating_id": overview.last_rating_id,
    }


def overview_from_document(document: dict) -> DataOverview:
    return DataOverview(
        counts={},
        ratings_per_month=[
            (dt.date.fromisoformat(month), n) for month, n in document["ratings_per_month"]
        ],
        score_histogram={score: n for score, n in document["score_histogram"]},
        most_rated=[RatedMovie(**movie) for movie in document["most_rated"]],
        best_rated=[RatedMovie(**movie) for movie in document["best_rated"]],
        best_rated_min_ratings=document["best_rated_min_ratings"],
        # Snapshots stored before these were kept have neither.
        most_rated_counts=[tuple(pair) for pair in document.get("most_rated_counts", [])],
        last_rating_id=document.get("last_rating_id"),
    )


def _score_histogram(counts: dict[float, int]) -> dict[float, int]:
    shown = SCORES if any(score % 1 for score in counts) else [s for s in SCORES if s % 1 == 0]
    return {score: counts.get(score, 0) for score in shown}


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value
