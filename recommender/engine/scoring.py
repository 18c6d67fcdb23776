"""Serving a fitted model: candidates -> features -> ranker -> top-K with explanations.

:func:`recommend` scores users from their *current* histories, so it serves users whose
history changed after training. Users are scored in batches of ``config.batch_size``;
each batch returns its own :class:`RecommendationBatch` and :func:`recommend` stacks
them, so no step writes into arrays shared with another.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet, generate_candidates
from recommender.engine.config import PipelineConfig
from recommender.engine.data import HistoryMatrices, IdIndex, build_histories
from recommender.engine.features import FeatureBuilder
from recommender.engine.liking import LikePredictor
from recommender.engine.model import RecommenderModel
from recommender.engine.recall import BaseRecallSource, ItemSimilaritySource, top_n


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its explanation.

    Attributes
    ----------
    item_id : int
    score : float
        Ranker score (comparable within one user only).
    source : str
        Recall source that ranked the item highest (``"popularity"`` for the
        cold-start fallback).
    because_item_id : int or None
        History item that contributed most to the item's score under the
        item-based source explaining it ("because you rated ...").
    """

    item_id: int
    score: float
    source: str
    because_item_id: int | None


@dataclass(frozen=True)
class RecommendationBatch:
    """Ranked recommendations of a batch of users.

    Attributes
    ----------
    user_ids : numpy.ndarray of int64, shape (n_users,)
    item_ids : numpy.ndarray of int64, shape (n_users, topk)
        Best first; ``-1`` pads users with fewer than ``topk`` items.
    scores : numpy.ndarray of float64, shape (n_users, topk)
        NaN where padded.
    sources : numpy.ndarray of str, shape (n_users, topk)
        Empty string where padded.
    because_item_ids : numpy.ndarray of int64, shape (n_users, topk)
        ``-1`` when there is no contributing history item.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    scores: np.ndarray
    sources: np.ndarray
    because_item_ids: np.ndarray

    def for_user(self, user_id: int) -> list[Recommendation]:
        """The recommendations of one user of the batch, best first."""
        rows = np.flatnonzero(self.user_ids == user_id)
        if rows.size == 0:
            raise KeyError(f"user {user_id} is not in this batch")
        row = int(rows[0])
        return [
            Recommendation(
                item_id=int(item),
                score=float(score),
                source=str(source),
                because_item_id=int(because) if because >= 0 else None,
            )
            for item, score, source, because in zip(
                self.item_ids[row],
                self.scores[row],
                self.sources[row],
                self.because_item_ids[row],
                strict=True,
            )
            if item >= 0
        ]

    @classmethod
    def empty(cls, user_ids: np.ndarray, topk: int) -> RecommendationBatch:
        """All-padding lists; ``sources`` is an object array until the lists are final."""
        shape = (len(user_ids), topk)
        return cls(
            user_ids=user_ids,
            item_ids=np.full(shape, -1, dtype=np.int64),
            scores=np.full(shape, np.nan),
            sources=np.full(shape, "", dtype=object),
            because_item_ids=np.full(shape, -1, dtype=np.int64),
        )


def candidate_features(
    config: PipelineConfig,
    sources: Mapping[str, BaseRecallSource],
    features: FeatureBuilder,
    history: HistoryMatrices,
    user_ids: np.ndarray,
    exclude: sp.csr_matrix | None = None,
    reference_time: float | None = None,
    like: LikePredictor | None = None,
) -> tuple[CandidateSet, np.ndarray]:
    """Candidates of every history row and their ranker feature matrix.

    Training calls this with sources fitted on a fold, serving with the model's. With
    ``config.like_feature`` the last column is ``like``'s probability (NaN without one).

    Returns
    -------
    candidates : CandidateSet
    matrix : numpy.ndarray of float32, shape (n_candidates, n_features)
    """
    candidates = generate_candidates(sources, history.timestamps, config.n_candidates, exclude)
    similarity = sources[config.similarity_source].similarity_
    matrix = features.build(candidates, history, user_ids, similarity, reference_time)
    if not config.like_feature:
        return candidates, matrix
    probability = np.full(len(candidates), np.nan, dtype=np.float32)
    rows, items = candidates.rows, candidates.items
    if like is not None and len(candidates):
        probability[:] = like.predict(features, history, user_ids, rows, items)
    return candidates, np.column_stack([matrix, probability])


def recommend(
    model: RecommenderModel,
    histories: pd.DataFrame,
    user_ids: Sequence[int] | np.ndarray | None = None,
    topk: int = 10,
    exclude: Mapping[int, Collection[int]] | None = None,
    reference_time: float | None = None,
) -> RecommendationBatch:
    """Rank items for a batch of users from their current histories.

    Parameters
    ----------
    model : RecommenderModel
        A model with a ranker.
    histories : pandas.DataFrame
        Ratings (contract schema) of the users to serve; rows of other users
        and of items unknown to the model are ignored.
    user_ids : sequence of int, optional
        Users to serve, in output order; defaults to the users in
        ``histories``.  Users without history get the popularity list.
    topk : int
    exclude : mapping of user id to item ids, optional
        Items not to recommend besides the user's history.
    reference_time : float, optional
        "Now" in unix seconds for recency features.

    Returns
    -------
    RecommendationBatch
    """
    if not model.has_ranker:
        raise RuntimeError("model is not fitted: its ranker was never trained (fit_ranker)")
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    user_ids = _requested_users(histories, user_ids)
    request_index = IdIndex(user_ids)
    history = build_histories(histories, request_index, model.item_index)
    excluded = _exclusion_matrix(model.item_index, exclude, request_index)
    batches = [
        _recommend_batch(model, history, request_index.ids, excluded, rows, topk, reference_time)
        for rows in _row_batches(len(request_index), model.config.batch_size)
    ] or [RecommendationBatch.empty(request_index.ids, topk)]  # no users requested
    order = request_index.index_of(user_ids)

    def stacked(name: str) -> np.ndarray:
        return np.concatenate([getattr(batch, name) for batch in batches])[order]

    return RecommendationBatch(
        user_ids=user_ids,
        item_ids=stacked("item_ids"),
        scores=stacked("scores"),
        sources=stacked("sources").astype(str),
        because_item_ids=stacked("because_item_ids"),
    )


def _row_batches(n_rows: int, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive row positions, ``batch_size`` at a time (bounds the dense arrays)."""
    for start in range(0, n_rows, batch_size):
        yield np.arange(start, min(start + batch_size, n_rows))


def _requested_users(
    histories: pd.DataFrame, user_ids: Sequence[int] | np.ndarray | None
) -> np.ndarray:
    """``user_ids`` as int64 (default: the users in ``histories``); duplicates refused."""
    if user_ids is None:
        user_ids = histories["user_id"].unique()
    user_ids = np.asarray(user_ids, dtype=np.int64)
    if np.unique(user_ids).size != user_ids.size:
        raise ValueError("user_ids must not contain duplicates")
    return user_ids


def _exclusion_matrix(
    item_index: IdIndex, exclude: Mapping[int, Collection[int]] | None, request_index: IdIndex
) -> sp.csr_matrix:
    exclude = exclude or {}
    # Built from one array per user: a viewer's exclusions can be thousands of items.
    per_user = [np.fromiter(items, dtype=np.int64) for items in exclude.values()]
    sizes = [part.size for part in per_user]
    users = np.repeat(request_index.index_of(np.fromiter(exclude, dtype=np.int64)), sizes)
    items = item_index.index_of(np.concatenate(per_user) if per_user else np.empty(0, np.int64))
    keep = (users >= 0) & (items >= 0)
    return sp.csr_matrix(
        (np.ones(int(keep.sum())), (users[keep], items[keep])),
        shape=(len(request_index), len(item_index)),
    )


def _recommend_batch(
    model: RecommenderModel,
    history: HistoryMatrices,
    user_ids: np.ndarray,
    excluded: sp.csr_matrix,
    rows: np.ndarray,
    topk: int,
    reference_time: float | None,
) -> RecommendationBatch:
    """Ranked, explained and popularity-completed lists of the users at ``rows``."""
    batch_history, batch_excluded = history.take_rows(rows), excluded[rows]
    ranked = _ranked_lists(
        model, batch_history, user_ids[rows], batch_excluded, topk, reference_time
    )
    return _fill_with_popular(model, batch_history, batch_excluded, ranked)


def _ranked_lists(
    model: RecommenderModel,
    history: HistoryMatrices,
    user_ids: np.ndarray,
    excluded: sp.csr_matrix,
    topk: int,
    reference_time: float | None,
) -> RecommendationBatch:
    """The ranker's top-``topk`` candidates of each user with a history (others empty)."""
    lists = RecommendationBatch.empty(user_ids, topk)
    candidates, matrix = candidate_features(
        model.config,
        model.sources,
        model.features,
        history,
        user_ids,
        excluded,
        reference_time,
        model.like,
    )
    if not len(candidates):
        return lists
    has_history = np.diff(history.timestamps.indptr) > 0
    scores = model.ranker.predict(matrix)
    keep = has_history[candidates.rows]
    order = np.lexsort((candidates.items, -scores, candidates.rows))
    order = order[keep[order]]
    sorted_rows = candidates.rows[order]
    position = np.arange(order.size) - np.searchsorted(sorted_rows, sorted_rows)
    chosen = order[position < topk]
    out_rows, out_cols = candidates.rows[chosen], position[position < topk]
    lists.item_ids[out_rows, out_cols] = model.item_index.id_of(candidates.items[chosen])
    lists.scores[out_rows, out_cols] = scores[chosen]
    best_source = candidates.ranks[chosen].argmin(axis=1)
    lists.sources[out_rows, out_cols] = np.array(candidates.source_names, dtype=object)[best_source]
    because = _explain(model, history, candidates, chosen, best_source)
    lists.because_item_ids[out_rows, out_cols] = model.item_index.id_of(because)
    return lists


def _explain(
    model: RecommenderModel,
    history: HistoryMatrices,
    candidates: CandidateSet,
    chosen: np.ndarray,
    best_source: np.ndarray,
) -> np.ndarray:
    """History item index explaining each chosen candidate (``-1``: none), shape (n_chosen,).

    The explaining source is the top-ranking source when it is item-based,
    otherwise ``config.similarity_source``.
    """
    explainer = np.array(
        [
            name
            if isinstance(model.sources[name], ItemSimilaritySource)
            else model.config.similarity_source
            for name in candidates.source_names
        ],
        dtype=object,
    )[best_source]
    local_rows = candidates.rows[chosen]
    because = np.full(chosen.size, -1, dtype=np.int64)
    for row in np.unique(local_rows):
        in_row = local_rows == row
        for name in np.unique(explainer[in_row]):
            mask = in_row & (explainer == name)
            because[mask] = model.sources[name].explain(
                history.timestamps[row], candidates.items[chosen[mask]]
            )
    return because


def _fill_with_popular(
    model: RecommenderModel,
    history: HistoryMatrices,
    excluded: sp.csr_matrix,
    lists: RecommendationBatch,
) -> RecommendationBatch:
    """Complete short lists (cold-start users) with the most popular items."""
    topk = lists.item_ids.shape[1]
    counts = (lists.item_ids >= 0).sum(axis=1)
    short = np.flatnonzero(counts < topk)
    if short.size == 0:
        return lists
    item_ids, scores, sources = lists.item_ids.copy(), lists.scores.copy(), lists.sources.copy()
    popularity = model.popularity_source
    blocked = history.timestamps[short] + excluded[short]
    taken = model.item_index.index_of(item_ids[short].ravel())
    taken_rows = np.repeat(np.arange(short.size), topk)[taken >= 0]
    blocked = blocked + sp.csr_matrix(
        (np.ones(taken_rows.size), (taken_rows, taken[taken >= 0])), shape=blocked.shape
    )
    ids, popular_scores = top_n(popularity.score(blocked), topk, exclude=sp.csr_matrix(blocked))
    for local, row in enumerate(short):
        have = counts[row]
        fill = ids[local][ids[local] >= 0][: topk - have]
        columns = np.arange(have, have + fill.size)
        item_ids[row, columns] = model.item_index.id_of(fill)
        sources[row, columns] = popularity.name
        if have == 0:
            scores[row, columns] = popular_scores[local][: fill.size]
        else:
            # Keep the list descending: padding ranks below every ranked item.
            scores[row, columns] = scores[row, have - 1] - np.arange(1, fill.size + 1)
    return replace(lists, item_ids=item_ids, scores=scores, sources=sources)
