"""Candidate union, per-source views, candidate recall and feature leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet, candidate_recall, generate_candidates
from recommender.engine.data import (
    IdIndex,
    InteractionData,
    build_histories,
    empty_items,
    empty_users,
)
from recommender.engine.features import FeatureBuilder, source_feature_names
from recommender.engine.recall import ItemKNNSource, PopularitySource
from recommender.engine.vocabulary import build_vocabulary

N_ITEMS = 6


@pytest.fixture(scope="module")
def sources() -> dict:
    # Items 0-2 co-occur, item 3 is the most popular but never seen with item 0.
    # Popularity: [2, 2, 1, 4, 2, 1].
    train = sp.csr_matrix(
        np.array(
            [
                [1, 1, 1, 0, 0, 0],
                [1, 1, 0, 0, 0, 0],
                [0, 0, 0, 1, 1, 0],
                [0, 0, 0, 1, 0, 1],
                [0, 0, 0, 1, 1, 0],
                [0, 0, 0, 1, 0, 0],
            ],
            dtype=float,
        )
    )
    return {
        "popularity": PopularitySource().fit(train),
        "itemknn": ItemKNNSource(k=5, shrinkage=0.0).fit(train),
    }


def test_union_ranks_and_zscores(sources: dict) -> None:
    histories = sp.csr_matrix(np.array([[5, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=float))
    candidates = generate_candidates(sources, histories, n_per_source=2)
    pairs = set(zip(candidates.rows.tolist(), candidates.items.tolist(), strict=True))
    # Row 0: popularity top-2 unseen = {3, 1} (ties by index); item-kNN top-2 = {1, 2}.
    # Row 1 has no history: only popularity nominates ({3, 0}).
    assert pairs == {(0, 1), (0, 2), (0, 3), (1, 0), (1, 3)}
    assert candidates.source_names == ("popularity", "itemknn")
    row1 = candidates.rows == 1
    assert np.all(candidates.ranks[row1, 1] == N_ITEMS)
    assert np.all(np.isnan(candidates.scores[row1, 1]))
    assert np.all(candidates.zscores[row1, 1] == 0)
    item3 = (candidates.rows == 0) & (candidates.items == 3)
    assert candidates.ranks[item3, 0] == 0
    # z-scores are standardised over the row's 5 eligible items.
    popularity = sources["popularity"].scores_[1:]
    expected = (4.0 - popularity.mean()) / popularity.std()
    assert candidates.zscores[item3, 0] == pytest.approx(expected)


def test_exclusion_and_candidate_recall(sources: dict) -> None:
    histories = sp.csr_matrix(np.array([[5, 0, 0, 0, 0, 0]], dtype=float))
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 1, 0, 0]], dtype=float))
    candidates = generate_candidates(sources, histories, n_per_source=2, exclude=exclude)
    # Popularity now nominates {1, 4}, item-kNN {1, 2}.
    np.testing.assert_array_equal(candidates.items, [1, 2, 4])
    relevant = sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 1]], dtype=float))
    assert candidate_recall(candidates, relevant) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="n_per_source"):
        generate_candidates(sources, histories, n_per_source=0)


def test_item_statistics_come_from_training_part_only(synthetic_data: InteractionData) -> None:
    ratings = synthetic_data.ratings
    train = ratings[ratings["timestamp"] < ratings["timestamp"].median()]
    users, items = IdIndex(ratings["user_id"]), IdIndex(ratings["item_id"])
    history = build_histories(train, users, items)
    builder = FeatureBuilder(prior_strength=0.0).fit(
        history,
        synthetic_data.items,
        synthetic_data.users,
        items,
        build_vocabulary(synthetic_data.items, synthetic_data.users),
    )
    counts = train.groupby("item_id").size().reindex(items.ids, fill_value=0).to_numpy()
    np.testing.assert_array_equal(builder.item_table_[:, 0], counts)
    means = train.groupby("item_id")["rating"].mean().reindex(items.ids).to_numpy()
    rated = counts > 0
    np.testing.assert_allclose(builder.item_table_[rated, 2], means[rated])
    assert builder.reference_time_ == train["timestamp"].max()


def test_feature_matrix_layout(fitted_model, history_frame) -> None:
    model = fitted_model
    histories = history_frame(1, [1000, 1001])
    users = IdIndex([1, 999])
    history = build_histories(histories, users, model.item_index)
    candidates = generate_candidates(model.sources, history.timestamps, 5)
    similarity = model.sources["itemknn"].similarity_
    matrix = model.features.build(candidates, history, users.ids, similarity)
    names = source_feature_names(list(model.sources)) + model.features.feature_names
    assert matrix.shape == (len(candidates), len(names))
    assert names == model.feature_names
    column = dict(zip(names, matrix.T, strict=True))
    row0 = candidates.rows == 0
    assert np.all(column["user_n_ratings"][row0] == 2)
    assert np.all(column["user_mean_rating"][row0] == 5)
    # User 999 has no history and no demographic row.
    assert np.all(np.isnan(column["user_age"][~row0]))
    assert np.all(column["user_n_ratings"][~row0] == 0)
    # Odd user ids are "F", code 0 in the sorted vocabulary ["F", "M"].
    assert np.all(column["user_gender"][row0] == 0)


def test_time_context_features() -> None:
    day = 86_400.0
    item_index = IdIndex([10, 11])
    train = build_histories(
        pd.DataFrame(
            {
                "user_id": [1, 2, 3, 4],
                "item_id": [10, 10, 10, 11],
                "rating": [4.0, 4.0, 4.0, 4.0],
                "timestamp": (np.array([1, 2, 101, 51]) * day).astype(np.int64),
            }
        ),
        IdIndex([1, 2, 3, 4]),
        item_index,
    )
    builder = FeatureBuilder(context_days=30.0).fit(
        train,
        empty_items(),
        empty_users(),
        item_index,
        build_vocabulary(empty_items(), empty_users()),
    )
    history = build_histories(
        pd.DataFrame(
            {"user_id": [9], "item_id": [11], "rating": [3.0], "timestamp": [int(3 * day)]}
        ),
        IdIndex([8, 9]),
        item_index,
    )
    candidates = CandidateSet(
        rows=np.array([1, 1, 0]),
        items=np.array([0, 1, 0]),
        scores=np.zeros((3, 0)),
        ranks=np.zeros((3, 0)),
        zscores=np.zeros((3, 0)),
        source_names=(),
    )
    matrix = builder.build(candidates, history, np.array([8, 9]), sp.csr_matrix((2, 2)))
    column = dict(zip(builder.feature_names, matrix.T, strict=True))
    # The user's latest rating is on day 3: item 10 was rated on days 1 and 2 within
    # +-30 days, item 11 only on day 51; item ages then are 2 and -48 days.
    np.testing.assert_array_equal(column["item_ratings_near_user_time"][:2], [2, 0])
    np.testing.assert_allclose(column["item_age_at_user_days"][:2], [2, -48])
    # User 8 (row 0) has no history: no user time, so both are missing.
    assert np.isnan(column["item_ratings_near_user_time"][2])
    assert np.isnan(column["item_age_at_user_days"][2])


def test_build_vocabulary_sorts_and_skips_missing(synthetic_data: InteractionData) -> None:
    items = pd.DataFrame(
        {
            "item_id": [1, 2, 3],
            "year": np.nan,
            "genres": [("Drama",), None, ["Action", "Drama"]],
            "title": "x",
        }
    )
    vocabulary = build_vocabulary(items, synthetic_data.users)
    assert vocabulary["genres"] == ["Action", "Drama"]
    assert vocabulary["gender"] == ["F", "M"]
    assert vocabulary["occupation"] == ["student", "writer"]
