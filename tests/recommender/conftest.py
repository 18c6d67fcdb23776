"""A small synthetic catalogue in the database, with two clear taste groups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ingestion.models import Genre, Movie, Rating, Viewer

N_VIEWERS = 60
N_MOVIES = 40


@pytest.fixture
def synthetic_ratings(db) -> None:
    """Viewers 1–30 rate movies 1–20 high, 31–60 rate movies 21–40 high; a few cross."""
    rng = np.random.default_rng(7)
    action, drama = Genre.objects.bulk_create([Genre(name="Action"), Genre(name="Drama")])
    movies = Movie.objects.bulk_create(
        Movie(id=i, title=f"Movie {i} (199{i % 10})", year=1990 + i % 10)
        for i in range(1, N_MOVIES + 1)
    )
    for movie in movies:
        movie.genres.add(action if movie.id <= N_MOVIES // 2 else drama)
    Viewer.objects.bulk_create(
        Viewer(id=i, age=20 + i % 40, gender="MF"[i % 2], occupation="student", zip_code="00000")
        for i in range(1, N_VIEWERS + 1)
    )
    start = dt.datetime(1998, 1, 1, tzinfo=dt.UTC)
    ratings = []
    for viewer in range(1, N_VIEWERS + 1):
        own = range(1, 21) if viewer <= N_VIEWERS // 2 else range(21, 41)
        liked = rng.choice(list(own), size=12, replace=False)
        other = rng.choice([m for m in range(1, 41) if m not in own], size=2, replace=False)
        # Shuffled in time, so that time-based hold-outs see both kinds of rating.
        for step, movie in enumerate(rng.permutation([*liked, *other])):
            score = 5 if movie in liked else 2
            ratings.append(
                Rating(
                    viewer_id=viewer,
                    movie_id=int(movie),
                    score=score,
                    rated_at=start + dt.timedelta(days=viewer, hours=step),
                )
            )
    Rating.objects.bulk_create(ratings)


@pytest.fixture
def fast_params() -> dict:
    """A pipeline small enough for tests: fewer sources, one fold, few trees."""
    from recommender.engine.pipeline import PipelineConfig
    from recommender.engine.ranking import RankerConfig

    config = PipelineConfig(
        sources={
            "popularity": {"kind": "popularity"},
            "cooccurrence": {"kind": "cooccurrence", "normalization": "jaccard"},
            "itemknn": {"kind": "itemknn", "k": 20, "shrinkage": 1.0},
            "ease": {"kind": "ease", "l2": 10.0},
        },
        n_candidates=20,
        n_folds=1,
        ranker=RankerConfig(
            n_estimators=20, min_data_in_leaf=5, early_stopping_rounds=5, num_threads=1
        ),
    )
    return {"pipeline": config.to_dict(), "neighbors_per_item": 5, "popular_items": 10}
