"""The paths that keep training bounded at scale, exercised at tiny size: blockwise
item x item products, EASE's most-rated subset, the ranker's row budget, the
evaluation's user sample and batches, and their determinism."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.engine import sampling
from recommender.engine.config import PipelineConfig
from recommender.engine.data import InteractionData
from recommender.engine.evaluation import evaluate_holdout
from recommender.engine.recall import (
    CooccurrenceSource,
    EASESource,
    ItemKNNSource,
    RP3betaSource,
    SequenceSource,
    blocks,
)
from recommender.engine.recall.base import binarize
from recommender.engine.training import fit_ranker, fit_sources


@pytest.fixture(scope="module")
def timeline() -> sp.csr_matrix:
    """60 users x 25 items, timestamps as values, popularity skewed toward low indices."""
    rng = np.random.default_rng(11)
    weights = 1.0 / np.arange(1, 26)
    dense = rng.random((60, 25)) < np.clip(weights * 2.5, 0.05, 0.9)
    times = rng.permutation(dense.size).reshape(dense.shape) + 1.0
    return sp.csr_matrix(np.where(dense, times, 0.0))


SOURCES = [
    lambda: ItemKNNSource(k=4, shrinkage=2.0),
    lambda: RP3betaSource(alpha=0.8, beta=0.5, k=4),
    lambda: CooccurrenceSource(normalization="jaccard"),
    lambda: CooccurrenceSource(normalization="lift", k=3),
    lambda: EASESource(l2=5.0),
]


@pytest.mark.parametrize("make", SOURCES)
def test_item_products_in_tiny_blocks_equal_one_block(make, timeline, monkeypatch) -> None:
    whole = make().fit(timeline).similarity_
    monkeypatch.setattr(blocks, "PRODUCT_BLOCK_CELLS", 1)  # one item row per block
    with blocks.threads_for_training(2):
        chunked = make().fit(timeline).similarity_
    dense = lambda m: m.toarray() if sp.issparse(m) else np.asarray(m)  # noqa: E731
    np.testing.assert_allclose(dense(chunked), dense(whole), rtol=1e-12)


def test_blockwise_top_k_drops_the_diagonal_and_prunes_rows(timeline) -> None:
    binary = binarize(timeline)
    counts = (binary.T @ binary).toarray()
    np.fill_diagonal(counts, 0)
    result = blocks.blockwise_top_k(sp.csr_matrix(binary.T), binary, 3, block_cells=50)
    assert np.diff(result.indptr).max() <= 3
    assert np.all(result.diagonal() == 0)
    for row in range(counts.shape[0]):
        kept = result[row].toarray().ravel()
        # Every kept entry is a true count, at least as large as any dropped one.
        assert np.all(kept[kept > 0] == counts[row][kept > 0])
        if (kept > 0).any():
            assert kept[kept > 0].min() >= counts[row][kept == 0].max(initial=0)


def test_sequence_pairs_in_tiny_blocks_equal_one_block(timeline, monkeypatch) -> None:
    make = lambda: SequenceSource(window=4, n_recent=3, k=5)  # noqa: E731
    whole = make().fit(timeline).similarity_.toarray()
    monkeypatch.setattr(SequenceSource, "pairs_per_block", 8)
    np.testing.assert_allclose(make().fit(timeline).similarity_.toarray(), whole, rtol=1e-12)
    monkeypatch.setattr(SequenceSource, "cells_per_block", 30)  # one item row at a time
    np.testing.assert_allclose(make().fit(timeline).similarity_.toarray(), whole, rtol=1e-12)


def test_sequence_similarity_equals_the_pairs_counted_one_by_one(timeline) -> None:
    window, n_items = 3, timeline.shape[1]
    counts = np.zeros((n_items, n_items))
    for row in range(timeline.shape[0]):
        entries = slice(timeline.indptr[row], timeline.indptr[row + 1])
        stamps, items = timeline.data[entries], timeline.indices[entries]
        ordered = items[np.lexsort((items, stamps))]
        for i, j in itertools.permutations(range(ordered.size), 2):
            if abs(i - j) <= window:
                counts[ordered[i], ordered[j]] += 1.0 / abs(i - j)
    support = binarize(timeline).sum(axis=0).A1
    expected = counts / np.sqrt(np.outer(support, support).clip(min=1))
    # k above the catalogue: nothing pruned.
    source = SequenceSource(window=window, n_recent=3, k=n_items).fit(timeline)
    np.testing.assert_allclose(source.similarity_.toarray(), expected, rtol=1e-12)


def test_ease_above_max_items_solves_the_most_rated_subset(timeline) -> None:
    binary = binarize(timeline).toarray()
    popularity = binary.sum(axis=0)
    subset = np.sort(np.lexsort((np.arange(25), -popularity))[:10])
    source = EASESource(l2=5.0, max_items=10, k=4).fit(timeline)
    assert source.fit_summary() == {
        "mode": "most_rated_subset",
        "items": 10,
        "catalogue": 25,
        "k": 4,
    }
    similarity = source.similarity_
    assert sp.issparse(similarity) and similarity.shape == (25, 25)
    outside = np.setdiff1d(np.arange(25), subset)
    assert similarity[outside].nnz == 0 and similarity[:, outside].nnz == 0
    assert np.diff(similarity.indptr).max() <= 4
    # The kept weights are EASE's on the subset.
    full = EASESource(l2=5.0).fit(sp.csr_matrix(binary[:, subset])).similarity_
    block = similarity[np.ix_(subset, subset)].toarray()
    np.testing.assert_allclose(block[block != 0], full[block != 0], rtol=1e-6)
    # Scoring, recommending and explaining work on the sparse weights.
    ids, _ = source.recommend(timeline[:3], 3)
    assert np.isin(ids[ids >= 0], subset).all()


def test_ease_fallback_is_recorded_on_the_fit_report(synthetic_data, small_config) -> None:
    config = replace(
        small_config,
        sources={**small_config.sources, "ease": {"kind": "ease", "l2": 10.0, "max_items": 12}},
    )
    model = fit_sources(config, synthetic_data)
    assert model.fit_report["recall_choices"]["ease"]["mode"] == "most_rated_subset"
    assert model.fit_report["recall_choices"]["ease"]["items"] == 12
    full = fit_sources(small_config, synthetic_data)
    assert full.fit_report["recall_choices"]["ease"]["mode"] == "full"


def test_sample_ids_is_deterministic_and_bounded() -> None:
    ids = np.arange(100, 200)
    first = sampling.sample_ids(ids, 10, seed=3)
    assert first.size == 10 and np.unique(first).size == 10 and np.isin(first, ids).all()
    np.testing.assert_array_equal(sampling.sample_ids(ids[::-1], 10, seed=3), first)
    assert not np.array_equal(sampling.sample_ids(ids, 10, seed=4), first)
    np.testing.assert_array_equal(sampling.sample_ids(ids, None, seed=3), ids)
    np.testing.assert_array_equal(sampling.sample_ids(ids, 500, seed=3), ids)
    with pytest.raises(ValueError, match=">= 0"):
        sampling.sample_ids(ids, -1, seed=3)


def test_ranker_label_sample_respects_the_row_budget() -> None:
    labels = pd.DataFrame({"user_id": np.repeat(np.arange(50), 3), "item_id": np.arange(150)})
    # 2 folds x 10 rows per viewer: a budget of 100 rows allows 5 viewers per fold.
    assert sampling.users_for_row_budget(100, 2, 10) == 5
    sampled = sampling.ranker_label_sample(
        labels, row_budget=100, n_folds=2, rows_per_user=10, seed=1
    )
    assert sampled["user_id"].nunique() == 5
    assert len(sampled) == 15  # every held-out rating of a sampled viewer
    again = sampling.ranker_label_sample(
        labels, row_budget=100, n_folds=2, rows_per_user=10, seed=1
    )
    pd.testing.assert_frame_equal(sampled, again)
    roomy = sampling.ranker_label_sample(
        labels, row_budget=10_000, n_folds=2, rows_per_user=10, seed=1
    )
    assert roomy is labels
    with pytest.raises(ValueError, match=">= 1"):
        sampling.users_for_row_budget(0, 2, 10)


def test_rows_per_batch_bounds_the_dense_cells() -> None:
    assert sampling.rows_per_batch(256, 1682) == 256
    assert sampling.rows_per_batch(256, 59_047) == sampling.MAX_BATCH_CELLS // 59_047
    assert sampling.rows_per_batch(256, 10, max_cells=25) == 2
    assert sampling.rows_per_batch(256, 10**9) == 1


def test_fit_ranker_trains_on_a_budgeted_sample(synthetic_data, small_config) -> None:
    rows_per_user = small_config.n_candidates * len(small_config.sources)
    budget = small_config.n_folds * rows_per_user * 12  # 12 viewers per fold
    config = replace(small_config, ranker_row_budget=budget)
    model = fit_ranker(fit_sources(config, synthetic_data), synthetic_data)
    folds = [model.fit_report[f"fold{fold}_viewers"] for fold in range(config.n_folds)]
    assert folds == [12, 12]
    again = fit_ranker(fit_sources(config, synthetic_data), synthetic_data)
    assert again.fit_report["feature_importance"] == model.fit_report["feature_importance"]
    full = fit_ranker(fit_sources(small_config, synthetic_data), synthetic_data)
    assert full.fit_report["fold0_viewers"] == synthetic_data.ratings["user_id"].nunique()


def test_evaluation_batches_and_sample(synthetic_data: InteractionData, small_config) -> None:
    whole = evaluate_holdout(synthetic_data, small_config, seed=5)
    batched = evaluate_holdout(synthetic_data, replace(small_config, batch_size=7), seed=5)
    assert batched.system == pytest.approx(whole.system)
    for name, metrics in whole.baselines.items():
        assert batched.baselines[name] == pytest.approx(metrics)
    sampled = evaluate_holdout(synthetic_data, small_config, seed=5, max_users=20)
    assert sampled.protocol["users"] == 20
    assert sampled.protocol["evaluable_users"] == whole.protocol["users"] == 60
    again = evaluate_holdout(synthetic_data, small_config, seed=5, max_users=20)
    assert again.system == sampled.system


def test_pipeline_config_refuses_an_empty_row_budget() -> None:
    with pytest.raises(ValueError, match="ranker_row_budget"):
        PipelineConfig(ranker_row_budget=0)
