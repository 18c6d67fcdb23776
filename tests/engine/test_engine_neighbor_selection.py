"""The neighbour table of a pruned (sparse) similarity is read off its stored entries;
it must be exactly the table the dense selection makes of the same rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.engine.data import IdIndex, InteractionData, build_histories
from recommender.engine.recall import BaseRecallSource, ItemKNNSource


def _source_with(similarity: sp.csr_matrix) -> ItemKNNSource:
    source = ItemKNNSource()
    source._set_similarity(similarity, similarity.shape[0])
    return source


def _dense_table(source: ItemKNNSource, n: int) -> tuple[np.ndarray, np.ndarray]:
    items = np.arange(source.n_items_)
    return BaseRecallSource._top_neighbors(source, items, n)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1, 3, 8])
def test_sparse_selection_equals_the_dense_one(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct values (ties), negatives, explicit zeros and a stored diagonal.
    values = rng.choice([-0.5, 0.0, 0.25, 0.5, 1.0], size=(30, 30), p=[0.1, 0.1, 0.3, 0.3, 0.2])
    mask = rng.random((30, 30)) < 0.3
    similarity = sp.csr_matrix(np.where(mask, values, 0.0))
    similarity.data[::7] = 0.0  # explicit zeros stay stored
    source = _source_with(similarity)

    ids, scores = source.neighbor_table(n, batch_size=7)

    dense_ids, dense_scores = _dense_table(source, n)
    np.testing.assert_array_equal(ids, dense_ids)
    np.testing.assert_array_equal(scores, dense_scores)


def test_sparse_selection_of_a_fitted_source(synthetic_data: InteractionData) -> None:
    ratings = synthetic_data.ratings
    history = build_histories(
        ratings, IdIndex(ratings["user_id"].to_numpy()), IdIndex(ratings["item_id"].to_numpy())
    )
    source = ItemKNNSource(k=5).fit(history.timestamps)
    assert sp.issparse(source.similarity_)

    ids, scores = source.neighbor_table(4)

    dense_ids, dense_scores = _dense_table(source, 4)
    np.testing.assert_array_equal(ids, dense_ids)
    np.testing.assert_array_equal(scores, dense_scores)
