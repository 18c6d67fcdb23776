"""Source-specific behaviour and the shared top-n / pruning helpers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.engine.recall import (
    ALSSource,
    CooccurrenceSource,
    EASESource,
    ItemKNNSource,
    PopularitySource,
    SequenceSource,
    UserKNNSource,
    top_n,
)
from recommender.engine.recall.als import ridge_rows
from recommender.engine.recall.base import binarize
from recommender.engine.recall.selection import prune_top_k

DAY = 86_400.0


def test_top_n_breaks_ties_by_index_and_pads() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0], [-np.inf, 2.0, -np.inf, -np.inf, -np.inf]])
    ids, values = top_n(scores, 3)
    np.testing.assert_array_equal(ids, [[1, 2, 4], [1, -1, -1]])
    np.testing.assert_array_equal(values[1], [2.0, -np.inf, -np.inf])


def test_top_n_resolves_boundary_ties_per_row() -> None:
    scores = np.array([[0.0, 1.0, 1.0, 1.0, 5.0], [0.0, 4.0, 3.0, 2.0, 1.0]])
    ids, values = top_n(scores, 2)
    np.testing.assert_array_equal(ids, [[4, 1], [1, 2]])
    np.testing.assert_array_equal(values, [[5.0, 1.0], [4.0, 3.0]])


def test_top_n_excludes_marked_columns() -> None:
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0]]))
    ids, _ = top_n(np.array([[1.0, 9.0, 5.0, 2.0]]), 2, exclude=exclude)
    np.testing.assert_array_equal(ids, [[2, 3]])


def test_prune_top_k_keeps_largest_per_row() -> None:
    dense = np.array([[0, 5, 1, 3], [2, 0, 2, 1], [0, 0, 0, 0], [4, 1, 0, 0]], dtype=float)
    pruned = prune_top_k(sp.csr_matrix(dense), 2).toarray()
    expected = np.array([[0, 5, 0, 3], [2, 0, 2, 0], [0, 0, 0, 0], [4, 1, 0, 0]], dtype=float)
    np.testing.assert_array_equal(pruned, expected)


def test_popularity_counts_and_half_life() -> None:
    # Item 0: two old interactions; item 1: one interaction at the newest time.
    interactions = sp.csr_matrix(([DAY, DAY, 100 * DAY], ([0, 1, 1], [0, 0, 1])), shape=(3, 2))
    plain = PopularitySource().fit(interactions)
    np.testing.assert_array_equal(plain.scores_, [2.0, 1.0])
    decayed = PopularitySource(half_life_days=9.9).fit(interactions)
    assert decayed.scores_[1] == pytest.approx(1.0)
    assert decayed.scores_[0] == pytest.approx(2 * 0.5 ** (99 / 9.9))


def test_cooccurrence_jaccard_values() -> None:
    # Items 0 and 1 share 1 user; supports 2 and 1 -> jaccard 1 / (2 + 1 - 1).
    interactions = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1]], dtype=float))
    source = CooccurrenceSource("jaccard").fit(interactions)
    assert source.similarity_[0, 1] == pytest.approx(0.5)
    assert source.similarity_[0, 0] == 0
    counts = CooccurrenceSource("count").fit(interactions)
    assert counts.similarity_[1, 2] == 0


def test_itemknn_shrinkage_and_pruning() -> None:
    interactions = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 1], [1, 0, 0, 0]], dtype=float))
    source = ItemKNNSource(k=1, shrinkage=1.0).fit(interactions)
    # c_01 = 2, n_0 = 3, n_1 = 2 -> 2 / (sqrt(6) + 1); item 0 keeps only item 1.
    assert source.similarity_[0, 1] == pytest.approx(2 / (np.sqrt(6) + 1))
    assert np.diff(source.similarity_.indptr).max() == 1


def test_ease_matches_closed_form() -> None:
    rng = np.random.default_rng(1)
    dense = (rng.random((30, 6)) < 0.4).astype(float)
    source = EASESource(l2=2.0).fit(sp.csr_matrix(dense))
    precision = np.linalg.inv(dense.T @ dense + 2.0 * np.eye(6))
    expected = np.eye(6) - precision / np.diag(precision)
    np.testing.assert_allclose(source.similarity_, expected, atol=1e-6)
    assert source.fit_summary() == {"mode": "full", "items": 6}


def test_sequence_scores_from_most_recent_items() -> None:
    # Training timelines: 0 -> 1 and 2 -> 3 (always adjacent).
    rows = [0, 0, 1, 1, 2, 2, 3, 3]
    cols = [0, 1, 0, 1, 2, 3, 2, 3]
    times = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    source = SequenceSource(window=1, n_recent=1).fit(
        sp.csr_matrix((times, (rows, cols)), shape=(4, 5))
    )
    # The user watched 0 long ago and 2 just now: only the recent item counts.
    history = sp.csr_matrix(([10.0, 20.0], ([0, 0], [0, 2])), shape=(1, 5))
    ids, _ = source.recommend(history, n=1)
    assert ids[0, 0] == 3
    weights = source.history_weights(history)
    assert weights.nnz == 1 and weights[0, 2] == 1.0


def test_als_fold_in_is_the_exact_implicit_als_solve() -> None:
    # Scoring a history folds it in: x = (Y^T Y + reg I + alpha Y_h^T Y_h)^-1 (1+alpha) Y_h^T 1.
    rng = np.random.default_rng(3)
    interactions = sp.csr_matrix((rng.random((30, 12)) < 0.3).astype(float))
    source = ALSSource(factors=3, regularization=0.5, alpha=4.0, iterations=5).fit(interactions)
    factors = source.item_factors_[0].astype(np.float64)
    history = binarize(interactions[:6])
    base = factors.T @ factors + 0.5 * np.eye(3)
    expected = ridge_rows(history * 5.0, factors, base, 4.0) @ factors.T
    np.testing.assert_allclose(source.score(interactions[:6]), expected, rtol=1e-3, atol=1e-5)
    assert np.all(source.score(sp.csr_matrix((1, 12))) == 0)


def test_als_restored_from_state_scores_the_same() -> None:
    rng = np.random.default_rng(6)
    interactions = sp.csr_matrix((rng.random((25, 10)) < 0.3).astype(float))
    fitted = ALSSource(factors=3, iterations=4, n_models=2).fit(interactions)
    restored = ALSSource(factors=3, iterations=4, n_models=2)
    restored.set_state(fitted.get_state())
    np.testing.assert_array_equal(restored.score(interactions), fitted.score(interactions))


def test_ridge_rows_small_batches_match_the_batched_solver() -> None:
    rng = np.random.default_rng(5)
    targets = sp.csr_matrix(rng.random((20, 9)) * (rng.random((20, 9)) < 0.4))
    factors = rng.normal(size=(9, 4))
    base = np.eye(4) * 0.7
    batched = ridge_rows(targets, factors, base, 2.0)
    one_by_one = np.vstack([ridge_rows(targets[[row]], factors, base, 2.0) for row in range(20)])
    np.testing.assert_allclose(one_by_one, batched, atol=1e-10)


def test_als_averages_models() -> None:
    rng = np.random.default_rng(4)
    interactions = sp.csr_matrix((rng.random((20, 10)) < 0.3).astype(float))
    single = [ALSSource(factors=3, seed=s, iterations=5).fit(interactions) for s in (7, 8)]
    pair = ALSSource(factors=3, seed=7, n_models=2, iterations=5).fit(interactions)
    expected = (single[0].score(interactions) + single[1].score(interactions)) / 2
    np.testing.assert_allclose(pair.score(interactions), expected)


def test_userknn_weights_neighbors_by_shrunk_cosine() -> None:
    # Training users: A = {0, 1}, B = {0, 2}, C = {3}.
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=float))
    source = UserKNNSource(k=1, shrinkage=0.0).fit(train)
    # History {0, 1} matches A exactly (cosine 1) and B half (0.5); k=1 keeps A only.
    scores = source.score(sp.csr_matrix(np.array([[1, 1, 0, 0]], dtype=float)))
    np.testing.assert_allclose(scores, [[1.0, 1.0, 0.0, 0.0]])
    wider = UserKNNSource(k=2, shrinkage=0.0).fit(train)
    ids, scores = wider.recommend(sp.csr_matrix(np.array([[1, 1, 0, 0]], dtype=float)), n=2)
    # Item 2 comes from B (weight 0.5); item 3 has no support and scores 0.
    np.testing.assert_array_equal(ids, [[2, 3]])
    np.testing.assert_allclose(scores, [[0.5, 0.0]])
