"""Ranker features of (user, candidate item) pairs.

Item-side arrays are precomputed once at :meth:`FeatureBuilder.fit` from the
training interactions only (no label leakage); user-side values are computed
from the history passed at request time, so per-request work is
O(candidates).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet
from recommender.engine.data import HistoryMatrices, IdIndex
from recommender.engine.recall.base import State, binarize
from recommender.engine.recall.sequence import time_ordered
from recommender.engine.vocabulary import encode_categories, genre_matrix

logger = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0
#: The relevance label of the data: a rating of at least this many stars is "liked"
#: (whole- and half-star data alike).
LIKED_RATING = 4.0
USER_FEATURES = (
    "user_n_ratings",
    "user_mean_rating",
    "user_std_rating",
    "user_days_since_last",
    "user_span_days",
    "user_age",
    "user_gender",
    "user_occupation",
)
ITEM_FEATURES = (
    "item_n_ratings",
    "item_recent_share",
    "item_bayes_mean",
    "item_std_rating",
    "item_year",
    "item_days_since_first",
)
PAIR_FEATURES = (
    "genre_cosine",
    "genre_liked_share",
    "recent_sim_max",
    "recent_sim_mean",
    "item_ratings_near_user_time",
    "item_age_at_user_days",
)
# Interaction times are stored as offsets below 2**32 s (136 years) inside an int64
# key ``item * 2**32 + offset``, so one sorted array serves every item's timeline.
_TIME_KEY_SHIFT = np.int64(2**32)
CATEGORICAL_FEATURES = ("user_gender", "user_occupation")
#: The ranker's last column when ``PipelineConfig.like_feature`` is on.
LIKE_PROBABILITY = "like_probability"


def _row_mean_std(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.diff(matrix.indptr).astype(np.float64)
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    squares = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    mean = np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)
    variance = np.divide(squares, counts, out=np.full_like(sums, np.nan), where=counts > 0)
    return counts, mean, np.sqrt(np.maximum(variance - mean**2, 0.0))


class FeatureBuilder:
    """Builds the feature matrix of a :class:`CandidateSet`.

    Parameters
    ----------
    recent_days : float
        Window (days before the reference time) of the "recent popularity" share.
    prior_strength : float
        Pseudo-count of the Bayesian-smoothed item mean rating.
    n_recent_items : int
        History items used by the ``recent_sim_*`` features.
    context_days : float
        Half-width of the window around the user's latest interaction in which
        ``item_ratings_near_user_time`` counts the item's ratings (what was being
        watched when the user was active).
    """

    def __init__(
        self,
        recent_days: float = 30.0,
        prior_strength: float = 10.0,
        n_recent_items: int = 5,
        context_days: float = 30.0,
    ) -> None:
        if recent_days <= 0 or prior_strength < 0 or n_recent_items < 1 or context_days <= 0:
            raise ValueError(
                "recent_days and context_days must be > 0, prior_strength >= 0 and "
                "n_recent_items >= 1"
            )
        self.context_days = context_days
        self.recent_days = recent_days
        self.prior_strength = prior_strength
        self.n_recent_items = n_recent_items
        self.item_table_: np.ndarray | None = None
        self.item_genres_: np.ndarray | None = None
        self.user_ids_: np.ndarray | None = None
        self.user_table_: np.ndarray | None = None
        self.reference_time_: float | None = None
        self.time_origin_: float = 0.0
        self.item_time_keys_: np.ndarray | None = None
        self.item_first_seen_: np.ndarray | None = None

    def fit(
        self,
        train: HistoryMatrices,
        items: pd.DataFrame,
        users: pd.DataFrame,
        item_index: IdIndex,
        vocabulary: Mapping[str, Sequence[str]],
    ) -> Self:
        """Precompute item arrays and the user demographics lookup.

        Parameters
        ----------
        train : HistoryMatrices
            Training interactions, shape (n_train_users, n_items).
        items, users : pandas.DataFrame
            Side tables (contract schema); may be empty.
        item_index : IdIndex
            Column index of ``train``.
        vocabulary : mapping
            ``"genres"``, ``"gender"`` and ``"occupation"`` value lists (see
            :func:`build_vocabulary`); codes are positions, unknown values become
            NaN (LightGBM's missing category).
        """
        timestamps = train.timestamps
        self.reference_time_ = float(timestamps.data.max()) if timestamps.nnz else 0.0
        n_ratings, bayes, std = self._rating_statistics(train.ratings)
        recent_cut = self.reference_time_ - self.recent_days * SECONDS_PER_DAY
        is_recent = timestamps.data >= recent_cut
        recent = np.bincount(timestamps.indices[is_recent], minlength=timestamps.shape[1])
        first_seen = self._fit_timelines(timestamps)
        year = self._fit_item_side(items, item_index, vocabulary["genres"])
        self.item_table_ = np.column_stack(
            [
                n_ratings,
                recent / np.maximum(n_ratings, 1.0),
                bayes,
                std,
                year,
                (self.reference_time_ - first_seen) / SECONDS_PER_DAY,
            ]
        )
        users = users.drop_duplicates("user_id").sort_values("user_id")
        self.user_ids_ = users["user_id"].to_numpy(dtype=np.int64)
        self.user_table_ = np.column_stack(
            [
                users["age"].to_numpy(dtype=np.float64),
                encode_categories(users["gender"], vocabulary["gender"]),
                encode_categories(users["occupation"], vocabulary["occupation"]),
            ]
        ).reshape(len(users), 3)
        return self

    def _rating_statistics(
        self, ratings: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per item: number of ratings, Bayesian-smoothed mean and standard deviation."""
        n_ratings, mean, std = _row_mean_std(sp.csr_matrix(ratings.T))
        global_mean = float(ratings.data.mean()) if ratings.nnz else np.nan
        sums = np.nan_to_num(mean * n_ratings)
        weight = n_ratings + self.prior_strength
        bayes = np.divide(
            sums + self.prior_strength * global_mean,
            weight,
            out=np.full_like(weight, np.nan),
            where=weight > 0,
        )
        return n_ratings, bayes, std

    def _fit_timelines(self, timestamps: sp.csr_matrix) -> np.ndarray:
        """Sorted (item, time) keys of every interaction; returns each item's first time."""
        coo = timestamps.tocoo()
        first = np.full(timestamps.shape[1], np.inf)
        np.minimum.at(first, coo.col, coo.data)
        first_seen = np.where(np.isfinite(first), first, np.nan)
        self.time_origin_ = float(coo.data.min()) if coo.nnz else 0.0
        self.item_time_keys_ = np.sort(
            coo.col.astype(np.int64) * _TIME_KEY_SHIFT + self._offsets(coo.data)
        )
        self.item_first_seen_ = first_seen
        return first_seen

    def _fit_item_side(
        self, items: pd.DataFrame, item_index: IdIndex, genres: Sequence[str]
    ) -> np.ndarray:
        """Multi-hot genres of the catalogue; returns the release years (NaN if unknown)."""
        items = items.drop_duplicates("item_id")
        rows = item_index.index_of(items["item_id"].to_numpy())
        known = rows >= 0
        year = np.full(len(item_index), np.nan)
        year[rows[known]] = items["year"].to_numpy(dtype=np.float64)[known]
        self.item_genres_ = np.zeros((len(item_index), len(genres)), dtype=np.float32)
        self.item_genres_[rows[known]] = genre_matrix(items["genres"].tolist(), genres)[known]
        return year

    @property
    def feature_names(self) -> list[str]:
        """Names of the non-source columns, in :meth:`build` order."""
        return [*USER_FEATURES, *ITEM_FEATURES, *PAIR_FEATURES]

    def build(
        self,
        candidates: CandidateSet,
        history: HistoryMatrices,
        user_ids: np.ndarray,
        similarity: sp.csr_matrix,
        reference_time: float | None = None,
    ) -> np.ndarray:
        """Feature matrix of the candidates.

        Parameters
        ----------
        candidates : CandidateSet
            Candidates of the rows of ``history``.
        history : HistoryMatrices
            Current histories, shape (n_rows, n_items).
        user_ids : numpy.ndarray, shape (n_rows,)
            External user id of each row (demographics lookup).
        similarity : scipy.sparse.csr_matrix, shape (n_items, n_items)
            Item-item similarity of the ``recent_sim_*`` features.
        reference_time : float, optional
            "Now" in unix seconds; defaults to the newest training or history
            interaction, whichever is later.

        Returns
        -------
        numpy.ndarray of float32, shape (n_candidates, n_features)
            Per-source (rank, z-score) columns first, then
            :attr:`feature_names`.
        """
        if self.item_table_ is None:
            raise RuntimeError("FeatureBuilder is not fitted; call fit() first")
        if reference_time is None:
            newest = history.timestamps.data.max() if history.timestamps.nnz else 0.0
            reference_time = max(self.reference_time_, float(newest))
        now = reference_time
        rows, items = candidates.rows, candidates.items
        user = self._user_table(history, user_ids, now)[rows]
        item = self.item_table_[items]
        pair = self._pair_features(candidates, history, similarity)
        timing = self._time_context(candidates, history)
        # Raw scores are left out on purpose: their scale differs between the
        # ranker's training folds and serving, while ranks and z-scores transfer.
        per_source = np.stack([candidates.ranks, candidates.zscores], axis=2).reshape(
            len(candidates), -1
        )
        return np.column_stack([per_source, user, item, pair, timing]).astype(np.float32)

    def _user_table(self, history: HistoryMatrices, user_ids: np.ndarray, now: float) -> np.ndarray:
        counts, mean, std = _row_mean_std(history.ratings)
        last = np.asarray(history.timestamps.max(axis=1).todense()).ravel()
        first = -np.asarray((-history.timestamps).min(axis=1).todense()).ravel()
        empty = counts == 0
        since_last = np.where(empty, np.nan, np.maximum(now - last, 0.0) / SECONDS_PER_DAY)
        span = np.where(empty, np.nan, (last - first) / SECONDS_PER_DAY)
        demographics = np.full((len(user_ids), 3), np.nan)
        if self.user_ids_.size:
            position = np.clip(
                np.searchsorted(self.user_ids_, user_ids), 0, self.user_ids_.size - 1
            )
            found = self.user_ids_[position] == user_ids
            demographics[found] = self.user_table_[position[found]]
        return np.column_stack([counts, mean, std, since_last, span, demographics])

    def _pair_features(
        self, candidates: CandidateSet, history: HistoryMatrices, similarity: sp.csr_matrix
    ) -> np.ndarray:
        rows, items = candidates.rows, candidates.items
        genres = self.item_genres_
        profile = binarize(history.timestamps) @ genres
        liked = sp.csr_matrix(history.ratings >= LIKED_RATING).astype(np.float64) @ genres
        candidate_genres = genres[items]
        user_profile = profile[rows]
        norms = np.linalg.norm(user_profile, axis=1) * np.linalg.norm(candidate_genres, axis=1)
        cosine = np.divide(
            (user_profile * candidate_genres).sum(axis=1),
            norms,
            out=np.zeros(len(candidates)),
            where=norms > 0,
        )
        liked_total = liked.sum(axis=1, keepdims=True)
        liked_share = np.divide(liked, liked_total, out=np.zeros_like(liked), where=liked_total > 0)
        liked_score = (liked_share[rows] * candidate_genres).sum(axis=1)
        recent_max, recent_mean = self._recent_similarity(candidates, history, similarity)
        return np.column_stack([cosine, liked_score, recent_max, recent_mean])

    def _recent_similarity(
        self, candidates: CandidateSet, history: HistoryMatrices, similarity: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray]:
        """Max and mean similarity of each candidate to its user's latest items."""
        n_rows = history.n_users
        hist_rows, hist_items, from_end = time_ordered(history.timestamps)
        recent = from_end < self.n_recent_items
        latest = np.full((n_rows, self.n_recent_items), -1, dtype=np.int64)
        latest[hist_rows[recent], from_end[recent]] = hist_items[recent]
        pairs_items = latest[candidates.rows]
        valid = pairs_items >= 0
        values = np.zeros(pairs_items.shape)
        if valid.any():
            lookup_items = np.broadcast_to(candidates.items[:, None], pairs_items.shape)
            values[valid] = np.asarray(similarity[pairs_items[valid], lookup_items[valid]]).ravel()
        n_valid = valid.sum(axis=1)
        mean = np.divide(values.sum(axis=1), n_valid, out=np.zeros(len(n_valid)), where=n_valid > 0)
        return values.max(axis=1), mean

    def _offsets(self, times: np.ndarray) -> np.ndarray:
        return np.clip(times - self.time_origin_, 0, float(_TIME_KEY_SHIFT - 1)).astype(np.int64)

    def _time_context(self, candidates: CandidateSet, history: HistoryMatrices) -> np.ndarray:
        """Item activity around the user's latest interaction and item age then."""
        last = np.asarray(history.timestamps.max(axis=1).todense()).ravel()[candidates.rows]
        last[np.diff(history.timestamps.indptr)[candidates.rows] == 0] = np.nan
        width = self.context_days * SECONDS_PER_DAY
        base = candidates.items.astype(np.int64) * _TIME_KEY_SHIFT
        known = ~np.isnan(last)
        low = base[known] + self._offsets(last[known] - width)
        high = base[known] + self._offsets(last[known] + width)
        near = np.full(len(candidates), np.nan)
        near[known] = np.searchsorted(self.item_time_keys_, high, side="right") - np.searchsorted(
            self.item_time_keys_, low, side="left"
        )
        age = (last - self.item_first_seen_[candidates.items]) / SECONDS_PER_DAY
        return np.column_stack([near, age])

    def get_state(self) -> State:
        """Fitted arrays for artifacts."""
        return {
            "item_table": self.item_table_,
            "item_genres": self.item_genres_,
            "user_ids": self.user_ids_,
            "user_table": self.user_table_,
            "reference_time": np.array(self.reference_time_),
            "time_origin": np.array(self.time_origin_),
            "item_time_keys": self.item_time_keys_,
            "item_first_seen": self.item_first_seen_,
            "params": np.array(
                [self.recent_days, self.prior_strength, self.n_recent_items, self.context_days]
            ),
        }

    @classmethod
    def from_state(cls, state: State) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`get_state` arrays."""
        recent_days, prior_strength, n_recent, context_days = state["params"].tolist()
        builder = cls(recent_days, prior_strength, int(n_recent), context_days)
        builder.time_origin_ = float(state["time_origin"])
        builder.item_time_keys_ = state["item_time_keys"]
        builder.item_first_seen_ = state["item_first_seen"]
        builder.item_table_ = state["item_table"]
        builder.item_genres_ = state["item_genres"]
        builder.user_ids_ = state["user_ids"]
        builder.user_table_ = state["user_table"]
        builder.reference_time_ = float(state["reference_time"])
        return builder


def source_feature_names(source_names: Sequence[str]) -> list[str]:
    """Names of the per-source columns of :meth:`FeatureBuilder.build`."""
    return [f"{name}_{kind}" for name in source_names for kind in ("rank", "z")]
