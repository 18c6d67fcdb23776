"""One contract, every recall source (like implicit's recommender_base_test)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.engine.recall import (
    ALSSource,
    BaseRecallSource,
    CooccurrenceSource,
    EASESource,
    ItemKNNSource,
    NotFittedError,
    PopularitySource,
    RecallSource,
    RP3betaSource,
    SequenceSource,
    UserKNNSource,
    top_n,
)

N_ITEMS = 20
BLOCK = 10

FACTORIES: dict[str, Callable[[], BaseRecallSource]] = {
    "popularity": PopularitySource,
    "popularity_decay": lambda: PopularitySource(half_life_days=10.0),
    "cooccurrence": CooccurrenceSource,
    "cooccurrence_count": lambda: CooccurrenceSource(normalization="count", k=5),
    "itemknn": lambda: ItemKNNSource(k=5, shrinkage=1.0),
    "ease": lambda: EASESource(l2=5.0),
    "rp3beta": lambda: RP3betaSource(k=5),
    "sequence": lambda: SequenceSource(window=2, n_recent=3),
    # Two factors, one per block: a rank-2 model separates the blocks exactly.
    "userknn": lambda: UserKNNSource(k=5, shrinkage=1.0),
    "als": lambda: ALSSource(factors=2, regularization=0.1, alpha=5.0, iterations=15),
}
PERSONALISED = [name for name in FACTORIES if not name.startswith("popularity")]

BAD_PARAMS: list[tuple[type, dict]] = [
    (PopularitySource, {"half_life_days": 0}),
    (PopularitySource, {"half_life_days": -1.0}),
    (CooccurrenceSource, {"normalization": "dice"}),
    (CooccurrenceSource, {"k": 0}),
    (ItemKNNSource, {"k": 0}),
    (ItemKNNSource, {"shrinkage": -1.0}),
    (EASESource, {"l2": 0.0}),
    (EASESource, {"max_items": 0}),
    (RP3betaSource, {"beta": -0.5}),
    (RP3betaSource, {"k": 2.5}),
    (SequenceSource, {"window": 0}),
    (SequenceSource, {"recency_decay": 1.5}),
    (UserKNNSource, {"k": 0}),
    (UserKNNSource, {"shrinkage": float("nan")}),
    (ALSSource, {"factors": 0}),
    (ALSSource, {"regularization": 0.0}),
    (ALSSource, {"seed": -1}),
    (ALSSource, {"n_models": True}),
]


def block_interactions(seed: int = 0) -> sp.csr_matrix:
    """40 users: 0-19 only touch items 0-9 (block A), 20-39 only items 10-19 (B).

    Values are distinct positive timestamps, as the data contract requires.
    """
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for user in range(40):
        offset = 0 if user < 20 else BLOCK
        items = rng.choice(BLOCK, size=5, replace=False) + offset
        rows += [user] * 5
        cols += items.tolist()
    timestamps = 1_000_000 + np.arange(len(rows), dtype=np.float64) * 3600
    return sp.csr_matrix((timestamps, (rows, cols)), shape=(40, N_ITEMS))


def history_rows(*histories: list[int]) -> sp.csr_matrix:
    """New (not trained on) history rows; later list positions are more recent."""
    rows, cols, values = [], [], []
    for row, items in enumerate(histories):
        rows += [row] * len(items)
        cols += items
        values += (2_000_000 + np.arange(len(items)) * 60.0).tolist()
    return sp.csr_matrix((values, (rows, cols)), shape=(len(histories), N_ITEMS))


@pytest.fixture(scope="module")
def interactions() -> sp.csr_matrix:
    return block_interactions()


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request: pytest.FixtureRequest, interactions: sp.csr_matrix) -> BaseRecallSource:
    source = FACTORIES[request.param]().fit(interactions)
    source.test_id = request.param
    return source


def test_satisfies_protocol(fitted: BaseRecallSource) -> None:
    assert isinstance(fitted, RecallSource)


def test_shapes_and_sorted_descending(fitted: BaseRecallSource, interactions) -> None:
    ids, scores = fitted.recommend(interactions, n=6)
    assert ids.shape == scores.shape == (40, 6)
    assert ids.dtype == np.int64
    assert np.all(scores[:, :-1] >= scores[:, 1:])
    assert np.all((ids >= -1) & (ids < N_ITEMS))


def test_exclude_seen_and_no_duplicates(fitted: BaseRecallSource, interactions) -> None:
    ids, _ = fitted.recommend(interactions, n=N_ITEMS)
    dense = interactions.toarray() != 0
    for row in range(ids.shape[0]):
        valid = ids[row][ids[row] >= 0]
        assert not dense[row, valid].any(), "seen item recommended"
        assert len(set(valid.tolist())) == valid.size, "duplicate item"


def test_include_seen_when_asked(fitted: BaseRecallSource, interactions) -> None:
    ids, scores = fitted.recommend(interactions, n=N_ITEMS, exclude_seen=False)
    expected_ids, expected_scores = top_n(fitted.score(interactions), N_ITEMS)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores)


def test_deterministic(fitted: BaseRecallSource, interactions) -> None:
    again = FACTORIES[fitted.test_id]().fit(interactions)
    ids_a, scores_a = fitted.recommend(interactions, n=5)
    ids_b, scores_b = again.recommend(interactions, n=5)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_allclose(scores_a, scores_b)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_unfitted_raises(name: str, interactions) -> None:
    source = FACTORIES[name]()
    with pytest.raises(NotFittedError, match="fit"):
        source.recommend(interactions, n=3)
    with pytest.raises(NotFittedError):
        source.similar_items(0, n=3)


@pytest.mark.parametrize(("cls", "params"), BAD_PARAMS)
def test_invalid_hyper_parameters(cls: type, params: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(params))):
        cls(**params)


def test_similar_items_excludes_itself(fitted: BaseRecallSource) -> None:
    for item in (0, 7, 15):
        ids, scores = fitted.similar_items(item, n=5)
        assert ids.shape == scores.shape == (5,)
        assert item not in ids.tolist()
        assert np.all(scores[:-1] >= scores[1:])


def test_neighbor_table(fitted: BaseRecallSource) -> None:
    ids, scores = fitted.neighbor_table(4)
    assert ids.shape == scores.shape == (N_ITEMS, 4)
    assert not (ids == np.arange(N_ITEMS)[:, None]).any()
    assert np.all(scores[ids >= 0] > 0)


def test_empty_history(fitted: BaseRecallSource) -> None:
    ids, scores = fitted.recommend(history_rows([], [1, 2]), n=4)
    if fitted.needs_history:
        assert (ids[0] == -1).all() and np.isneginf(scores[0]).all()
    else:
        assert (ids[0] >= 0).all()
    assert (ids[1] >= 0).any()


def test_wrong_width_rejected(fitted: BaseRecallSource) -> None:
    with pytest.raises(ValueError, match="columns"):
        fitted.recommend(sp.csr_matrix((1, N_ITEMS + 1)), n=2)


@pytest.mark.parametrize("name", PERSONALISED)
def test_block_user_gets_own_block_first(name: str, interactions) -> None:
    # Fresh histories (fold-in): one block-A user, one block-B user.
    source = FACTORIES[name]().fit(interactions)
    ids, _ = source.recommend(history_rows([0, 1, 2], [11, 12, 13]), n=4)
    assert set(ids[0].tolist()) <= set(range(BLOCK)) - {0, 1, 2}
    assert set(ids[1].tolist()) <= set(range(BLOCK, N_ITEMS)) - {11, 12, 13}
    neighbors, _ = source.similar_items(3, n=3)
    assert set(neighbors.tolist()) <= set(range(BLOCK))


def test_state_round_trip(fitted: BaseRecallSource, interactions) -> None:
    restored = type(fitted)(**fitted.get_params())
    restored.set_state(fitted.get_state())
    np.testing.assert_allclose(restored.score(interactions), fitted.score(interactions))
