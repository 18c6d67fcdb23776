"""End-to-end recommender: recall sources -> candidates -> features -> LightGBM.

:meth:`RecommenderPipeline.fit` trains the ranker on folds carved from the given
ratings (sources refitted on each fold's fit part, labels from its held-out
part) and then refits the sources on all ratings for serving.
:meth:`RecommenderPipeline.recommend` scores users from their *current*
histories, so it serves users whose history changed after training.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.candidates import CandidateSet, generate_candidates
from recommender.engine.data import (
    HistoryMatrices,
    IdIndex,
    InteractionData,
    build_histories,
    catalogue_index,
    deduplicate_ratings,
)
from recommender.engine.features import (
    CATEGORICAL_FEATURES,
    FeatureBuilder,
    build_vocabulary,
    source_feature_names,
)
from recommender.engine.ranking import LightGBMRanker, RankerConfig
from recommender.engine.recall import SOURCE_CLASSES, BaseRecallSource, ItemSimilaritySource
from recommender.engine.recall.base import top_n
from recommender.engine.splits import stratified_split, time_split

logger = logging.getLogger(__name__)

LABEL_SPLITS = ("random", "time")
ITEM_BASED_KINDS = frozenset(
    name for name, cls in SOURCE_CLASSES.items() if issubclass(cls, ItemSimilaritySource)
)


def default_sources() -> dict[str, dict[str, Any]]:
    """Recall sources of the default pipeline: name -> ``{"kind": ..., **params}``.

    Hyper-parameters were read off grids scored on validation splits carved
    from the MovieLens-100k *training* parts only (``benchmarks/offline_eval.py
    --tune`` prints them): EASE l2 300-700 (500 between the two protocols' optima),
    item-kNN k=200 / shrinkage 10, RP3beta alpha 0.8 / beta 0.5, ALS 32 factors /
    reg 20 / alpha 2 (three seeds averaged), sequence window 40 / last 50 items.
    Co-occurrence, user-kNN and a short-window sequence source were dropped from
    the default set: the ranker gave them little gain and each cost ~1-2 ms per
    request (they remain available as source kinds).
    """
    return {
        "popularity": {"kind": "popularity"},
        "recent_popularity": {"kind": "popularity", "half_life_days": 30.0},
        "itemknn": {"kind": "itemknn", "k": 200, "shrinkage": 10.0},
        "ease": {"kind": "ease", "l2": 500.0},
        "rp3beta": {"kind": "rp3beta", "alpha": 0.8, "beta": 0.5, "k": 200},
        "sequence": {"kind": "sequence", "window": 40, "n_recent": 50, "recency_decay": 0.9},
        "als": {
            "kind": "als",
            "factors": 32,
            "regularization": 20.0,
            "alpha": 2.0,
            "n_models": 3,
            "iterations": 8,
        },
    }


def build_source(spec: Mapping[str, Any]) -> BaseRecallSource:
    """Instantiate an unfitted source from ``{"kind": ..., **params}``."""
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in SOURCE_CLASSES:
        raise ValueError(f"unknown source kind {kind!r}; known: {sorted(SOURCE_CLASSES)}")
    return SOURCE_CLASSES[kind](**params)


@dataclass(frozen=True)
class PipelineConfig:
    """Configuration of :class:`RecommenderPipeline`.

    Attributes
    ----------
    sources : dict
        Source name -> ``{"kind": ..., **params}``; must contain a
        ``"popularity"``-kind source (the cold-start fallback).
    n_candidates : int
        Top-N taken from every source per user.
    label_split : {"time", "random"}
        How ranker folds hold out labels from the training ratings: each user's
        latest ``label_share`` (fold ``f`` steps back in time ``f`` times) or a
        per-user random ``label_share`` (fold ``f`` uses seed ``seed + f``).
    label_share : float
    n_folds : int
    validation_share : float
        Share of users whose groups form the early-stopping slice.
    similarity_source : str
        Item-based source used for ``recent_sim_*`` features and as the
        fallback explanation of non-item-based recommendations.
    ranker : RankerConfig
    refit_ranker : bool
        Refit the ranker on all users with the early-stopped tree count.
    feature_params : dict
        Keyword arguments of :class:`FeatureBuilder`.
    seed : int
    batch_size : int
        Users scored per batch (bounds the dense (batch, n_items) arrays).
    """

    sources: dict[str, dict[str, Any]] = field(default_factory=default_sources)
    n_candidates: int = 50
    label_split: str = "time"
    label_share: float = 0.2
    n_folds: int = 2
    validation_share: float = 0.15
    similarity_source: str = "itemknn"
    ranker: RankerConfig = field(default_factory=RankerConfig)
    feature_params: dict[str, float] = field(default_factory=dict)
    refit_ranker: bool = True
    seed: int = 0
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.label_split not in LABEL_SPLITS:
            raise ValueError(f"label_split must be one of {LABEL_SPLITS}, got {self.label_split!r}")
        if not 0 < self.label_share < 1 or not 0 < self.validation_share < 1:
            raise ValueError("label_share and validation_share must be in (0, 1)")
        if self.n_folds < 1 or self.n_candidates < 1 or self.batch_size < 1:
            raise ValueError("n_folds, n_candidates and batch_size must be >= 1")
        for spec in self.sources.values():
            build_source(spec)  # validates the kind and hyper-parameters early
        kinds = {spec.get("kind") for spec in self.sources.values()}
        if "popularity" not in kinds:
            raise ValueError("sources must include a popularity source (cold-start fallback)")
        if self.sources.get(self.similarity_source, {}).get("kind") not in ITEM_BASED_KINDS:
            raise ValueError(
                f"similarity_source {self.similarity_source!r} must name an item-based source"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PipelineConfig:
        """Rebuild from :meth:`to_dict` output."""
        values = dict(values)
        values["ranker"] = RankerConfig(**values["ranker"])
        return cls(**values)


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


@dataclass
class _Components:
    """Sources and feature builder fitted on one set of ratings."""

    sources: dict[str, BaseRecallSource]
    features: FeatureBuilder
    history: HistoryMatrices
    user_index: IdIndex


class RecommenderPipeline:
    """Multi-source recall + LightGBM ranking with explanations.

    Parameters
    ----------
    config : PipelineConfig, optional
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self.item_index_: IdIndex | None = None
        self.sources_: dict[str, BaseRecallSource] = {}
        self.features_: FeatureBuilder | None = None
        self.ranker_: LightGBMRanker | None = None
        self.vocabulary_: dict[str, list[str]] = {}
        self.fit_report_: dict[str, Any] = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, data: InteractionData) -> Self:
        """Fit the sources on all ratings, then train the ranker on internal folds.

        Parameters
        ----------
        data : InteractionData
            Training ratings and side tables.
        """
        started = time.perf_counter()
        self.fit_sources(data).fit_ranker(data)
        self.fit_report_["fit_seconds"] = time.perf_counter() - started
        logger.info("pipeline fitted in %.1f s", self.fit_report_["fit_seconds"])
        return self

    def fit_sources(self, data: InteractionData) -> Self:
        """First stage of :meth:`fit`: catalogue, vocabularies and the serving sources.

        The recall tables (:meth:`neighbour_table`, :meth:`popularity_table`) are
        available after this stage; :meth:`recommend` needs :meth:`fit_ranker` too.
        """
        started = time.perf_counter()
        ratings = deduplicate_ratings(data.ratings)
        items, users = data.items_or_empty, data.users_or_empty
        self.item_index_ = catalogue_index(data)
        self.vocabulary_ = build_vocabulary(items, users)
        serving = self._fit_components(data.with_ratings(ratings))
        self.sources_, self.features_ = serving.sources, serving.features
        self.ranker_ = None
        self.fit_report_["sources_seconds"] = time.perf_counter() - started
        return self

    def fit_ranker(self, data: InteractionData) -> Self:
        """Second stage of :meth:`fit`: the LightGBM ranker, on folds carved from ``data``.

        Must follow :meth:`fit_sources` on the same data (possibly in another process,
        through an artifact saved in between).
        """
        if self.item_index_ is None or self.features_ is None:
            raise RuntimeError("fit_ranker() needs fit_sources() first")
        started = time.perf_counter()
        ratings = deduplicate_ratings(data.ratings)
        slices = []
        for fold, (fit_part, label_part) in enumerate(self._folds(ratings)):
            components = self._fit_components(data.with_ratings(fit_part))
            labelled = self._training_slice(components, label_part, fold)
            if labelled["labels"].any():
                slices.append(labelled)
        if not slices:
            raise ValueError(
                "too few ratings to train the ranker: no fold has a user with both a history "
                "and a held-out rating among the candidates"
            )
        self.ranker_ = self._train_ranker(slices)
        self.fit_report_["feature_importance"] = self.ranker_.feature_importance()
        self.fit_report_["ranker_seconds"] = time.perf_counter() - started
        return self

    def _folds(self, ratings: pd.DataFrame) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        config = self.config
        remaining = ratings
        for fold in range(config.n_folds):
            if config.label_split == "random":
                yield stratified_split(ratings, 1 - config.label_share, seed=config.seed + fold)
            else:
                # Each further fold steps one label window back in time.
                fit_part, label_part = time_split(remaining, 1 - config.label_share)
                yield fit_part, label_part
                remaining = fit_part

    def _fit_components(self, data: InteractionData) -> _Components:
        user_index = IdIndex(data.ratings["user_id"].to_numpy())
        history = build_histories(data.ratings, user_index, self.item_index_)
        sources = {}
        for name, spec in self.config.sources.items():
            tick = time.perf_counter()
            sources[name] = build_source(spec).fit(history.timestamps)
            logger.debug("source %s fitted in %.2f s", name, time.perf_counter() - tick)
        features = FeatureBuilder(**self.config.feature_params).fit(
            history, data.items_or_empty, data.users_or_empty, self.item_index_, self.vocabulary_
        )
        return _Components(sources, features, history, user_index)

    def _training_slice(
        self, components: _Components, label_part: pd.DataFrame, fold: int
    ) -> dict[str, np.ndarray]:
        labels = build_histories(label_part, components.user_index, self.item_index_).timestamps
        has_both = (np.diff(labels.indptr) > 0) & (
            np.diff(components.history.timestamps.indptr) > 0
        )
        rows = np.flatnonzero(has_both)
        if rows.size == 0:
            return {
                "features": np.zeros((0, len(self.feature_names))),
                "labels": np.zeros(0, dtype=np.float32),
                "groups": np.zeros(0, dtype=np.int64),
                "users": np.zeros(0, dtype=np.int64),
            }
        features, targets, groups, users = [], [], [], []
        for start in range(0, rows.size, self.config.batch_size):
            batch = rows[start : start + self.config.batch_size]
            history = _take_rows(components.history, batch)
            user_ids = components.user_index.ids[batch]
            candidates, matrix = self._featurise(components, history, user_ids, None, None)
            hit = np.asarray(labels[batch][candidates.rows, candidates.items]).ravel() != 0
            sizes = np.bincount(candidates.rows, minlength=batch.size)
            features.append(matrix)
            targets.append(hit.astype(np.float32))
            groups.append(sizes[sizes > 0])
            users.append(np.repeat(user_ids, sizes))
        recall = float(np.concatenate(targets).sum() / max(labels[rows].nnz, 1))
        self.fit_report_[f"fold{fold}_candidate_recall"] = recall
        logger.info("fold %d: %d users, candidate recall %.3f", fold, rows.size, recall)
        return {
            "features": np.concatenate(features),
            "labels": np.concatenate(targets),
            "groups": np.concatenate(groups),
            "users": np.concatenate(users),
        }

    def _train_ranker(self, slices: Sequence[dict[str, np.ndarray]]) -> LightGBMRanker:
        """Early-stop on held-out users, then refit on every group with that many trees.

        The internal validation curve is flat and noisy, so it only picks the tree
        count; refitting on all users recovers the data spent on validation.
        """
        rng = np.random.default_rng(self.config.seed)
        all_users = np.unique(np.concatenate([part["users"] for part in slices]))
        n_valid = max(1, round(self.config.validation_share * all_users.size))
        valid_users = rng.choice(all_users, size=n_valid, replace=False)
        parts: dict[bool, list[dict[str, np.ndarray]]] = {True: [], False: []}
        for part in slices:
            group_users = part["users"][np.cumsum(part["groups"]) - 1]
            group_valid = np.isin(group_users, valid_users)
            row_valid = np.repeat(group_valid, part["groups"])
            for is_valid in (True, False):
                parts[is_valid].append(
                    {
                        "features": part["features"][row_valid == is_valid],
                        "labels": part["labels"][row_valid == is_valid],
                        "groups": part["groups"][group_valid == is_valid],
                    }
                )

        def stack(chunks: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, ...]:
            keys = ("features", "labels", "groups")
            return tuple(np.concatenate([c[key] for c in chunks]) for key in keys)

        names = self.feature_names
        ranker = LightGBMRanker(self.config.ranker)
        ranker.fit(*stack(parts[False]), stack(parts[True]), names, CATEGORICAL_FEATURES)
        self.fit_report_["ranker_trees"] = ranker.booster_.best_iteration
        if not self.config.refit_ranker:
            return ranker
        trees = max(ranker.booster_.best_iteration, 1)
        ranker = LightGBMRanker(replace(self.config.ranker, n_estimators=trees))
        ranker.fit(*stack(slices), None, names, CATEGORICAL_FEATURES)
        return ranker

    # ------------------------------------------------------------------ serving
    @property
    def feature_names(self) -> list[str]:
        """Ranker feature names, in column order."""
        return [
            *source_feature_names(list(self.config.sources)),
            *FeatureBuilder().feature_names,
        ]

    def _featurise(
        self,
        components: _Components,
        history: HistoryMatrices,
        user_ids: np.ndarray,
        exclude: sp.csr_matrix | None,
        reference_time: float | None,
    ) -> tuple[CandidateSet, np.ndarray]:
        candidates = generate_candidates(
            components.sources, history.timestamps, self.config.n_candidates, exclude
        )
        similarity = components.sources[self.config.similarity_source].similarity_
        matrix = components.features.build(
            candidates, history, user_ids, similarity, reference_time
        )
        return candidates, matrix

    def _check_fitted(self) -> None:
        if self.ranker_ is None or self.features_ is None:
            raise RuntimeError("pipeline is not fitted; call fit() or load an artifact first")

    def _check_sources(self) -> None:
        if not self.sources_:
            raise RuntimeError("sources are not fitted; call fit_sources() first")

    @property
    def is_fitted(self) -> bool:
        """Both stages done: the pipeline can :meth:`recommend`."""
        return self.ranker_ is not None and self.features_ is not None

    def recommend(
        self,
        histories: pd.DataFrame,
        user_ids: Sequence[int] | np.ndarray | None = None,
        topk: int = 10,
        exclude: Mapping[int, Collection[int]] | None = None,
        reference_time: float | None = None,
    ) -> RecommendationBatch:
        """Rank items for a batch of users from their current histories.

        Parameters
        ----------
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
        self._check_fitted()
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        if user_ids is None:
            user_ids = histories["user_id"].unique()
        user_ids = np.asarray(user_ids, dtype=np.int64)
        if np.unique(user_ids).size != user_ids.size:
            raise ValueError("user_ids must not contain duplicates")
        request_index = IdIndex(user_ids)
        history = build_histories(histories, request_index, self.item_index_)
        excluded = self._exclusion_matrix(exclude, request_index)
        components = _Components(self.sources_, self.features_, history, request_index)
        shape = (len(request_index), topk)
        result = {
            "item_ids": np.full(shape, -1, dtype=np.int64),
            "scores": np.full(shape, np.nan),
            "sources": np.full(shape, "", dtype=object),
            "because_item_ids": np.full(shape, -1, dtype=np.int64),
        }
        for start in range(0, len(request_index), self.config.batch_size):
            rows = np.arange(start, min(start + self.config.batch_size, len(request_index)))
            self._recommend_batch(components, rows, excluded, topk, reference_time, result)
        order = request_index.index_of(user_ids)
        return RecommendationBatch(
            user_ids=user_ids,
            item_ids=result["item_ids"][order],
            scores=result["scores"][order],
            sources=result["sources"][order].astype(str),
            because_item_ids=result["because_item_ids"][order],
        )

    def _exclusion_matrix(
        self, exclude: Mapping[int, Collection[int]] | None, request_index: IdIndex
    ) -> sp.csr_matrix:
        pairs = [(user, item) for user, items in (exclude or {}).items() for item in items]
        users = request_index.index_of([user for user, _ in pairs])
        items = self.item_index_.index_of([item for _, item in pairs])
        keep = (users >= 0) & (items >= 0)
        return sp.csr_matrix(
            (np.ones(int(keep.sum())), (users[keep], items[keep])),
            shape=(len(request_index), len(self.item_index_)),
        )

    def _recommend_batch(
        self,
        components: _Components,
        rows: np.ndarray,
        excluded: sp.csr_matrix,
        topk: int,
        reference_time: float | None,
        result: dict[str, np.ndarray],
    ) -> None:
        history = _take_rows(components.history, rows)
        batch_excluded = excluded[rows]
        user_ids = components.user_index.ids[rows]
        candidates, matrix = self._featurise(
            components, history, user_ids, batch_excluded, reference_time
        )
        has_history = np.diff(history.timestamps.indptr) > 0
        if len(candidates):
            scores = self.ranker_.predict(matrix)
            keep = has_history[candidates.rows]
            order = np.lexsort((candidates.items, -scores, candidates.rows))
            order = order[keep[order]]
            sorted_rows = candidates.rows[order]
            position = np.arange(order.size) - np.searchsorted(sorted_rows, sorted_rows)
            chosen = order[position < topk]
            out_rows, out_cols = rows[candidates.rows[chosen]], position[position < topk]
            result["item_ids"][out_rows, out_cols] = self.item_index_.id_of(
                candidates.items[chosen]
            )
            result["scores"][out_rows, out_cols] = scores[chosen]
            best_source = candidates.ranks[chosen].argmin(axis=1)
            names = np.array(candidates.source_names, dtype=object)
            result["sources"][out_rows, out_cols] = names[best_source]
            self._explain(history, rows, candidates, chosen, out_cols, best_source, result)
        self._fill_with_popular(history, rows, batch_excluded, topk, result)

    def _explain(
        self,
        history: HistoryMatrices,
        rows: np.ndarray,
        candidates: CandidateSet,
        chosen: np.ndarray,
        columns: np.ndarray,
        best_source: np.ndarray,
        result: dict[str, np.ndarray],
    ) -> None:
        """Fill ``because_item_ids`` for the chosen candidates.

        The explaining source is the top-ranking source when it is item-based,
        otherwise ``config.similarity_source``.
        """
        names = candidates.source_names
        explainer = np.array(
            [
                name
                if isinstance(self.sources_[name], ItemSimilaritySource)
                else self.config.similarity_source
                for name in names
            ],
            dtype=object,
        )[best_source]
        local_rows = candidates.rows[chosen]
        for row in np.unique(local_rows):
            in_row = local_rows == row
            for name in np.unique(explainer[in_row]):
                mask = in_row & (explainer == name)
                because = self.sources_[name].explain(
                    history.timestamps[row], candidates.items[chosen[mask]]
                )
                result["because_item_ids"][rows[row], columns[mask]] = self.item_index_.id_of(
                    because
                )

    def _fill_with_popular(
        self,
        history: HistoryMatrices,
        rows: np.ndarray,
        excluded: sp.csr_matrix,
        topk: int,
        result: dict[str, np.ndarray],
    ) -> None:
        """Complete short lists (cold-start users) with the most popular items."""
        counts = (result["item_ids"][rows] >= 0).sum(axis=1)
        short = np.flatnonzero(counts < topk)
        if short.size == 0:
            return
        popularity = self._popularity_source()
        blocked = history.timestamps[short] + excluded[short]
        taken = self.item_index_.index_of(result["item_ids"][rows[short]].ravel())
        taken_rows = np.repeat(np.arange(short.size), topk)[taken >= 0]
        blocked = blocked + sp.csr_matrix(
            (np.ones(taken_rows.size), (taken_rows, taken[taken >= 0])), shape=blocked.shape
        )
        ids, scores = top_n(popularity.score(blocked), topk, exclude=sp.csr_matrix(blocked))
        for local, row in enumerate(rows[short]):
            have = counts[short[local]]
            fill = ids[local][ids[local] >= 0][: topk - have]
            columns = np.arange(have, have + fill.size)
            result["item_ids"][row, columns] = self.item_index_.id_of(fill)
            result["sources"][row, columns] = popularity.name
            if have == 0:
                result["scores"][row, columns] = scores[local][: fill.size]
            else:
                # Keep the list descending: padding ranks below every ranked item.
                last = result["scores"][row, have - 1]
                result["scores"][row, columns] = last - np.arange(1, fill.size + 1)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
        """Everything needed to rebuild the fitted pipeline.

        Returns
        -------
        metadata : dict
            JSON-serialisable configuration, vocabularies and fit report.
        arrays : dict of str to numpy.ndarray
            Learned arrays, keys ``item_ids``, ``source/<name>/<field>`` and
            ``features/<field>``.
        model : str
            LightGBM text model; empty after :meth:`fit_sources` alone.
        """
        if self.features_ is None:
            raise RuntimeError("pipeline is not fitted; call fit() or fit_sources() first")
        arrays = {"item_ids": self.item_index_.ids}
        for name, source in self.sources_.items():
            arrays.update({f"source/{name}/{k}": v for k, v in source.get_state().items()})
        arrays.update({f"features/{k}": v for k, v in self.features_.get_state().items()})
        metadata = {
            "config": self.config.to_dict(),
            "vocabulary": self.vocabulary_,
            "fit_report": self.fit_report_,
        }
        return metadata, arrays, self.ranker_.to_string() if self.ranker_ else ""

    @classmethod
    def from_state(
        cls, metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray], model: str
    ) -> RecommenderPipeline:
        """Inverse of :meth:`get_state`; raises ``KeyError``/``ValueError`` on bad input."""
        pipeline = cls(PipelineConfig.from_dict(metadata["config"]))
        pipeline.item_index_ = IdIndex(arrays["item_ids"])
        for name, spec in pipeline.config.sources.items():
            prefix = f"source/{name}/"
            source = build_source(spec)
            source.set_state(
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            )
            if source.n_items_ != len(pipeline.item_index_):
                raise ValueError(f"source {name} has {source.n_items_} items, catalogue differs")
            pipeline.sources_[name] = source
        pipeline.features_ = FeatureBuilder.from_state(
            {k[len("features/") :]: v for k, v in arrays.items() if k.startswith("features/")}
        )
        pipeline.ranker_ = (
            LightGBMRanker.from_string(model, metadata["config"]["ranker"]) if model else None
        )
        if pipeline.ranker_ and pipeline.ranker_.feature_names_ != pipeline.feature_names:
            raise ValueError("ranker features do not match the pipeline configuration")
        pipeline.vocabulary_ = dict(metadata["vocabulary"])
        pipeline.fit_report_ = dict(metadata["fit_report"])
        return pipeline

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomically write the fitted pipeline to ``path`` (see :mod:`.artifacts`)."""
        # Imported here because artifacts imports this module.
        from recommender.engine.artifacts import save_pipeline

        save_pipeline(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RecommenderPipeline:
        """Load a pipeline written by :meth:`save`; raises ``ArtifactError``."""
        from recommender.engine.artifacts import load_pipeline

        return load_pipeline(path)

    # ------------------------------------------------------------------ neighbours
    def item_sources(self) -> list[str]:
        """Names of the item-to-item sources, the ones with a neighbour table."""
        self._check_sources()
        return [
            n for n, source in self.sources_.items() if isinstance(source, ItemSimilaritySource)
        ]

    def popularity_table(self, n: int = 100) -> pd.DataFrame:
        """The cold-start list: top-``n`` items of the popularity source.

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id``, ``score``, ``rank`` (1-based), best first.
        """
        self._check_sources()
        source = self._popularity_source()
        empty = sp.csr_matrix((1, len(self.item_index_)))
        ids, scores = top_n(source.score(empty), n, exclude=empty)
        valid = ids[0] >= 0
        return pd.DataFrame(
            {
                "item_id": self.item_index_.id_of(ids[0][valid]),
                "score": scores[0][valid],
                "rank": np.arange(1, int(valid.sum()) + 1),
            }
        )

    def _popularity_source(self) -> BaseRecallSource:
        return next(
            source
            for name, source in self.sources_.items()
            if self.config.sources[name]["kind"] == "popularity"
        )

    def neighbour_table(self, source_name: str, n: int = 20) -> pd.DataFrame:
        """Pruned top-``n`` neighbour table of one source (for ``ItemNeighbor``).

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id``, ``neighbour_id``, ``score``, ``rank`` (1-based),
            ``source``; only positive-similarity neighbours.
        """
        self._check_sources()
        ids, scores = self.sources_[source_name].neighbour_table(n)
        rank = np.broadcast_to(np.arange(1, n + 1), ids.shape)
        item = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)
        valid = ids >= 0
        return pd.DataFrame(
            {
                "item_id": self.item_index_.id_of(item[valid]),
                "neighbour_id": self.item_index_.id_of(ids[valid]),
                "score": scores[valid],
                "rank": rank[valid],
                "source": source_name,
            }
        )


def _take_rows(history: HistoryMatrices, rows: np.ndarray) -> HistoryMatrices:
    return HistoryMatrices(timestamps=history.timestamps[rows], ratings=history.ratings[rows])
