"""The synthetic release: ml-25m layout, exact shape, realistic marginals, and a taste
structure that collaborative filtering finds and popularity does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ingestion.sources.layout import open_release
from ingestion.synthetic import SHAPES, Shape, user_rating_counts, write_synthetic_release

SMALL = Shape(users=600, movies=400, ratings=40_000)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_release(tmp_path_factory.mktemp("syn") / "synthetic", SMALL, seed=3)


def test_the_release_loads_with_its_exact_shape(written: Path) -> None:
    with open_release(written) as release:
        ratings = pd.concat(list(release.rating_chunks))

    assert release.layout == "csv"
    assert len(release.movies) == SMALL.movies
    assert len(ratings) == SMALL.ratings
    assert ratings["viewer_id"].nunique() == SMALL.users
    assert ratings.groupby("viewer_id").size().min() >= 20
    assert 3.45 < ratings["score"].mean() < 3.6
    assert set(ratings["score"]) == set(np.arange(1, 11) / 2)
    assert "NOT MovieLens data" in (written / "README.txt").read_text()


def test_popularity_is_long_tailed_and_users_active_in_windows(written: Path) -> None:
    ratings = pd.read_csv(written / "ratings.csv")
    per_movie = ratings["movieId"].value_counts()
    # The top tenth of the catalogue holds well over a tenth of the ratings.
    assert per_movie.iloc[: SMALL.movies // 10].sum() > 0.2 * len(ratings)
    spans = ratings.groupby("userId")["timestamp"].agg(lambda t: t.max() - t.min())
    assert (ratings["timestamp"].max() - ratings["timestamp"].min()) > 15 * 365 * 86_400
    assert spans.median() < 365 * 86_400


def test_item_neighbours_beat_popularity(written: Path) -> None:
    ratings = pd.read_csv(written / "ratings.csv")
    rng = np.random.default_rng(0)
    test = rng.random(len(ratings)) < 0.2
    users, items = ratings["userId"].to_numpy() - 1, ratings["movieId"].to_numpy() - 1
    shape = (SMALL.users, SMALL.movies)
    train = sp.csr_matrix((np.ones((~test).sum()), (users[~test], items[~test])), shape=shape)
    held = sp.csr_matrix((np.ones(test.sum()), (users[test], items[test])), shape=shape)

    def hit_rate(scores: np.ndarray) -> float:
        scores = np.where(train.toarray() > 0, -np.inf, scores)
        top = np.argsort(-scores, axis=1)[:, :10]
        return float(np.take_along_axis(held.toarray(), top, axis=1).sum() / held.sum())

    popularity = np.broadcast_to(np.asarray(train.sum(axis=0)), shape)
    norms = np.sqrt(np.asarray(train.sum(axis=0))).ravel() + 1e-9
    similarity = (train.T @ train).toarray() / norms[:, None] / norms[None, :]
    np.fill_diagonal(similarity, 0.0)
    assert hit_rate(train @ similarity) > 1.2 * hit_rate(popularity)


def test_counts_sum_exactly_for_the_real_shapes() -> None:
    counts = user_rating_counts(SHAPES["ml-10m"], np.random.default_rng(0))
    assert counts.sum() == SHAPES["ml-10m"].ratings and counts.min() >= 20
    assert len(counts) == SHAPES["ml-10m"].users and counts.max() <= SHAPES["ml-10m"].movies // 2


def test_impossible_shapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2000 ratings"):
        write_synthetic_release(tmp_path, Shape(users=100, movies=500, ratings=1_000))
