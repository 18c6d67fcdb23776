"""A synthetic MovieLens release in the ml-25m layout, for scale work (benchmarks only).

The releases cannot be downloaded on the machines that run the benchmarks and are not
redistributed, so this writes a data set with the *shape* of a real one: its counts, a
long-tailed movie popularity, every viewer with at least 20 ratings, ml-25m's half-star
distribution (mean ≈ 3.5), timestamps over years with each viewer active in a window of
their own, genres, and a latent taste structure (viewers prefer a few of
:data:`N_TASTES` communities of movies, and rate those higher) so that collaborative
filtering has something to find that popularity does not. None of it is real data.

Pure numpy and pandas. Viewers are generated and written in chunks of about
:data:`CHUNK_RATINGS` ratings, so memory stays bounded whatever the size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Shape:
    users: int
    movies: int
    ratings: int


#: The rated users, rated movies and ratings of the real releases.
SHAPES = {
    "ml-1m": Shape(6_040, 3_706, 1_000_209),
    "ml-10m": Shape(69_878, 10_677, 10_000_054),
    "ml-25m": Shape(162_541, 59_047, 25_000_095),
}
MIN_RATINGS_PER_USER = 20
#: Share of each half star among ml-25m's ratings (0.5, 1.0, …, 5.0); mean ≈ 3.53.
STAR_SHARES = np.array(
    [0.0157, 0.0311, 0.0160, 0.0656, 0.0505, 0.1959, 0.1271, 0.2656, 0.0880, 0.1445]
)
STARS = np.arange(1, 11) / 2
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
N_TASTES = 24
CHUNK_RATINGS = 1_000_000
#: ml-25m's ratings run from 1995-01-09 to 2019-11-21.
FIRST_TIME = 789_652_009
LAST_TIME = 1_574_327_703
README = """Synthetic MovieLens-shaped data set (ml-25m layout), written by
`manage.py makemovielens` for benchmarks. It is NOT MovieLens data: users, movies, titles,
genres and ratings are random, drawn to resemble a real release's shape ({shape}).
"""


@dataclass(frozen=True)
class _Catalogue:
    taste: np.ndarray  # community of each movie (movies sorted by community)
    quality: np.ndarray  # per-movie offset of its ratings
    cdf: np.ndarray  # community c's popularity CDF spans [c, c + 1)
    first: np.ndarray  # first movie index of each community


def write_synthetic_release(
    out: Path, shape: Shape, *, seed: int = 0, on_chunk: Callable[[int], None] | None = None
) -> Path:
    """Write ``movies.csv``, ``ratings.csv`` and a README into ``out`` (created)."""
    if shape.ratings < MIN_RATINGS_PER_USER * shape.users:
        raise ValueError(f"{shape.users} users need at least {20 * shape.users} ratings")
    if shape.movies < 2 * MIN_RATINGS_PER_USER:
        raise ValueError(f"at least {2 * MIN_RATINGS_PER_USER} movies are needed")
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    catalogue = _catalogue(shape.movies, rng)
    _movies_frame(catalogue, rng).to_csv(out / "movies.csv", index=False)
    counts = user_rating_counts(shape, rng)
    with (out / "ratings.csv").open("w", newline="") as handle:
        handle.write("userId,movieId,rating,timestamp\n")
        for chunk in _rating_chunks(counts, catalogue, rng):
            chunk.to_csv(handle, header=False, index=False, float_format="%.1f")
            if on_chunk:
                on_chunk(len(chunk))
    (out / "README.txt").write_text(README.format(shape=shape))
    return out


def user_rating_counts(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: at least 20, long-tailed (log-normal), summing to ``shape.ratings``,
    none above half the catalogue."""
    cap = max(MIN_RATINGS_PER_USER, shape.movies // 2)
    extra_total = shape.ratings - MIN_RATINGS_PER_USER * shape.users
    weights = rng.lognormal(0.0, 1.2, shape.users)
    extra = np.zeros(shape.users, dtype=np.int64)
    for _ in range(20):  # heavy users are capped; the rest take their share
        room = cap - MIN_RATINGS_PER_USER - extra
        open_ = room > 0
        remaining = extra_total - int(extra.sum())
        if remaining <= 0 or not open_.any():
            break
        share = np.where(open_, weights, 0.0)
        wanted = share / share.sum() * remaining
        add = np.minimum(np.floor(wanted).astype(np.int64), room)
        # Largest remainders take the units lost to rounding.
        leftover = remaining - int(add.sum())
        if leftover > 0:
            order = np.argsort(-(wanted - np.floor(wanted)) * open_)
            bump = order[:leftover]
            add[bump] += (add[bump] < room[bump]).astype(np.int64)
        extra += add
    if int(extra.sum()) != extra_total:
        raise ValueError("the catalogue is too small for this many ratings per user")
    return MIN_RATINGS_PER_USER + extra


def _catalogue(n_movies: int, rng: np.random.Generator) -> _Catalogue:
    taste = np.sort(rng.integers(0, N_TASTES, n_movies))
    # Long tail: Zipf-like weights over a random order of the movies.
    popularity = 1.0 / (rng.permutation(n_movies) + 10.0) ** 1.1
    cdf = np.empty(n_movies)
    first = np.searchsorted(taste, np.arange(N_TASTES + 1))
    for community in range(N_TASTES):
        part = slice(first[community], first[community + 1])
        weights = popularity[part]
        cdf[part] = community + np.cumsum(weights) / max(weights.sum(), 1e-300)
    return _Catalogue(taste, rng.normal(0.0, 0.5, n_movies), cdf, first)


def _movies_frame(catalogue: _Catalogue, rng: np.random.Generator) -> pd.DataFrame:
    n = len(catalogue.taste)
    years = np.clip(np.round(2015 - rng.gamma(2.0, 9.0, n)), 1902, 2019).astype(int)
    # Each community leans to two genres; a movie has one to three.
    lean = rng.integers(0, len(GENRES), (N_TASTES, 2))
    extra = rng.integers(0, len(GENRES), n)
    genres = [
        "|".join(sorted({GENRES[lean[t, 0]], GENRES[lean[t, rng.integers(2)]], GENRES[e]}))
        for t, e in zip(catalogue.taste, extra, strict=True)
    ]
    ids = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "movieId": ids,
            "title": [f"Synthetic Movie {i} ({y})" for i, y in zip(ids, years, strict=True)],
            "genres": genres,
        }
    )


def _rating_chunks(
    counts: np.ndarray, catalogue: _Catalogue, rng: np.random.Generator
) -> Iterator[pd.DataFrame]:
    per_chunk = max(1, int(CHUNK_RATINGS / max(counts.mean(), 1)))
    for start in range(0, len(counts), per_chunk):
        users = np.arange(start, min(start + per_chunk, len(counts)))
        yield _chunk(users, counts[users], catalogue, rng)


def _chunk(
    users: np.ndarray, counts: np.ndarray, catalogue: _Catalogue, rng: np.random.Generator
) -> pd.DataFrame:
    preference = rng.dirichlet(np.full(N_TASTES, 0.1), len(users))
    slots, movies = _distinct_movies(counts, preference, catalogue, rng)
    taste = catalogue.taste[movies]
    affinity = np.log(preference[slots, taste] * N_TASTES + 1e-3)
    latent = (
        rng.normal(0.0, 0.4, len(users))[slots]
        + catalogue.quality[movies]
        + 0.35 * affinity
        + rng.normal(0.0, 0.6, len(slots))
    )
    # Rank-based quantile mapping: each chunk has exactly ml-25m's star shares.
    edges = np.round(np.cumsum(STAR_SHARES) / STAR_SHARES.sum() * len(latent)).astype(np.int64)
    stars = np.empty(len(latent))
    stars[np.argsort(latent, kind="stable")] = STARS[
        np.searchsorted(edges, np.arange(len(latent)), side="right")
    ]
    frame = pd.DataFrame(
        {
            "userId": users[slots] + 1,
            "movieId": movies + 1,
            "rating": stars,
            "timestamp": _timestamps(slots, len(users), rng),
        }
    )
    return frame.sort_values(["userId", "movieId"], kind="stable")


def _distinct_movies(
    counts: np.ndarray, preference: np.ndarray, catalogue: _Catalogue, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``counts[u]`` distinct movies per user: communities drawn from the user's taste, then
    movies by popularity within them; users left short draw again, with a flatter taste."""
    taken_slots: list[np.ndarray] = []
    taken_movies: list[np.ndarray] = []
    missing = counts.astype(np.int64)
    keys = np.empty(0, dtype=np.int64)
    flatten = 0.0
    while missing.sum() > 0:
        slots = np.repeat(np.arange(len(counts)), 2 * missing + 4)
        community = _draw(((1 - flatten) * preference + flatten / N_TASTES), slots, rng)
        movies = np.searchsorted(catalogue.cdf, community + rng.random(len(slots)))
        movies = np.clip(movies, catalogue.first[community], catalogue.first[community + 1] - 1)
        new_keys = slots.astype(np.int64) << 32 | movies
        # pandas' hash table: a pair already taken, or drawn twice now, is dropped.
        repeated = pd.Series(np.concatenate([keys, new_keys])).duplicated().to_numpy()
        kept = np.flatnonzero(~repeated[len(keys) :])
        slots, movies = slots[kept], movies[kept]
        rank = pd.Series(slots).groupby(slots).cumcount().to_numpy()
        keep = rank < missing[slots]
        taken_slots.append(slots[keep])
        taken_movies.append(movies[keep])
        keys = np.concatenate([keys, new_keys[kept][keep]])
        missing = missing - np.bincount(slots[keep], minlength=len(counts))
        flatten = min(1.0, flatten + 0.5)
    return np.concatenate(taken_slots), np.concatenate(taken_movies)


def _draw(mixture: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per entry of ``rows``, drawn from that row of ``mixture`` (rows
    sum to 1): row r's CDF is laid out on [r, r + 1), so one search serves every row."""
    cdf = (np.arange(len(mixture))[:, None] + mixture.cumsum(axis=1)).ravel()
    found = np.searchsorted(cdf, rows + rng.random(len(rows)), side="right")
    return np.minimum(found - rows * mixture.shape[1], mixture.shape[1] - 1)


def _timestamps(slots: np.ndarray, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """Each user is active in a window of their own (days to years) within the span."""
    span = LAST_TIME - FIRST_TIME
    length = np.minimum(rng.lognormal(np.log(60 * 86_400), 2.0, n_users), span)
    start = FIRST_TIME + rng.random(n_users) * (span - length)
    return (start[slots] + rng.random(len(slots)) * length[slots]).astype(np.int64)
