"""Training: recall sources on all ratings, then a LightGBM ranker on internal folds.

:func:`fit` is both stages in one call. The product runs them as separate steps
(:func:`fit_sources` publishes the recall tables, :func:`fit_ranker` continues from an
artifact, possibly in another process). The ranker learns on folds carved from the
given ratings: sources refitted on each fold's fit part, labels from its held-out part,
so it sees candidates and features exactly as serving will. ``config.label_split`` says
which ratings a fold holds out (the latest, random ones, or both in turn) and
``config.relevance`` what a held-out rating is worth. The like model
(:mod:`recommender.engine.liking`) learns on the held-out ratings of time folds: the
ranker's, plus one label window further back for each of its random folds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.engine.config import PipelineConfig, build_source
from recommender.engine.data import (
    HistoryMatrices,
    IdIndex,
    InteractionData,
    build_histories,
    catalogue_index,
    deduplicate_ratings,
)
from recommender.engine.features import LIKED_RATING, FeatureBuilder
from recommender.engine.folds import is_time_fold, label_sample, ranker_folds, time_steps
from recommender.engine.liking import (
    LIKE_FEATURES,
    CrossFittedLike,
    LikeContext,
    LikeModel,
    LikePredictor,
    fit_classifier,
)
from recommender.engine.model import RecommenderModel
from recommender.engine.ranker_fit import TrainingSlice, train_ranker
from recommender.engine.recall import BaseRecallSource
from recommender.engine.recall.blocks import threads_for_training
from recommender.engine.sampling import rows_per_batch
from recommender.engine.scoring import candidate_features
from recommender.engine.vocabulary import build_vocabulary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _FittedSources:
    """Sources and feature builder fitted on one set of ratings, with those histories."""

    sources: dict[str, BaseRecallSource]
    features: FeatureBuilder
    history: HistoryMatrices
    user_index: IdIndex


def fit(config: PipelineConfig, data: InteractionData) -> RecommenderModel:
    """Fit the sources on all ratings, then train the ranker on internal folds.

    Parameters
    ----------
    config : PipelineConfig
    data : InteractionData
        Training ratings and side tables.

    Returns
    -------
    RecommenderModel
        With a ranker: ready for :func:`recommender.engine.scoring.recommend`.
    """
    started = time.perf_counter()
    model = fit_ranker(fit_sources(config, data), data)
    seconds = time.perf_counter() - started
    logger.info("pipeline fitted in %.1f s", seconds)
    return replace(model, fit_report={**model.fit_report, "fit_seconds": seconds})


def fit_sources(config: PipelineConfig, data: InteractionData) -> RecommenderModel:
    """First stage of :func:`fit`: catalogue, vocabularies and the serving sources.

    The recall tables (:mod:`recommender.engine.recall_tables`) can be exported from the
    result; recommending needs :func:`fit_ranker` too.
    """
    started = time.perf_counter()
    ratings = deduplicate_ratings(data.ratings)
    item_index = catalogue_index(data)
    vocabulary = build_vocabulary(data.items_or_empty, data.users_or_empty)
    serving = _fit_on(config, data.with_ratings(ratings), item_index, vocabulary)
    return RecommenderModel(
        config=config,
        item_index=item_index,
        sources=serving.sources,
        features=serving.features,
        vocabulary=vocabulary,
        fit_report={
            "sources_seconds": time.perf_counter() - started,
            # How sources adapted to the data's size (e.g. EASE on a subset): on the run.
            "recall_choices": {
                name: source.fit_summary()
                for name, source in serving.sources.items()
                if source.fit_summary()
            },
        },
    )


def fit_ranker(model: RecommenderModel, data: InteractionData) -> RecommenderModel:
    """Second stage of :func:`fit`: the LightGBM ranker, on folds carved from ``data``.

    ``model`` must come from :func:`fit_sources` on the same data (possibly in another
    process, through an artifact saved in between).

    Returns
    -------
    RecommenderModel
        A copy of ``model`` with the ranker and its part of the fit report.
    """
    started = time.perf_counter()
    ratings = deduplicate_ratings(data.ratings)
    report, slices, like_rows, sampled = {}, [], [], False
    steps = time_steps(ratings, model.config.label_share)
    for fold, (fit_part, full_label_part, weight) in enumerate(
        ranker_folds(model.config, ratings, steps)
    ):
        label_part = label_sample(model.config, full_label_part, fold)
        sampled |= len(label_part) < len(full_label_part)
        report[f"fold{fold}_viewers"] = int(label_part["user_id"].nunique())
        fold_fit = _fit_on(
            model.config, data.with_ratings(fit_part), model.item_index, model.vocabulary
        )
        context = LikeContext.fit(fold_fit.history.ratings)
        pairs = _like_rows(fold_fit, context, label_part, model.item_index)
        if is_time_fold(model.config, fold):
            like_rows.append(pairs)
        labelled = _training_slice(
            model, fold_fit, label_part, fold, _fold_like(model.config, context, pairs)
        )
        if labelled is None:
            continue
        report[f"fold{fold}_candidate_recall"] = labelled.candidate_recall
        if labelled.labels.any():
            slices.append(replace(labelled, weight=weight))
    if not slices:
        raise ValueError(
            "too few ratings to train the ranker: no fold has a user with both a history "
            "and a held-out rating among the candidates"
        )
    ranker, ranker_report = train_ranker(
        model.config, model.feature_names, slices, refit=not sampled
    )
    report.update(ranker_report)
    report["feature_importance"] = ranker.feature_importance()
    like_rows += _like_only_rows(model, data, steps, model.config.n_folds - len(like_rows))
    like = _fit_like_model(model, ratings, like_rows)
    report["like_trees"] = like.classifier.booster_.best_iteration if like else 0
    report["ranker_seconds"] = time.perf_counter() - started
    return replace(model, ranker=ranker, like=like, fit_report={**model.fit_report, **report})


def _fit_on(
    config: PipelineConfig,
    data: InteractionData,
    item_index: IdIndex,
    vocabulary: dict[str, list[str]],
) -> _FittedSources:
    user_index = IdIndex(data.ratings["user_id"].to_numpy())
    history = build_histories(data.ratings, user_index, item_index)
    sources = {}
    with threads_for_training(config.ranker.num_threads):
        for name, spec in config.sources.items():
            tick, cpu = time.perf_counter(), time.process_time()
            sources[name] = build_source(spec).fit(history.timestamps)
            logger.info(
                "source %s fitted in %.1f s (%.1f s CPU)",
                name,
                time.perf_counter() - tick,
                time.process_time() - cpu,
            )
    features = FeatureBuilder(**config.feature_params).fit(
        history, data.items_or_empty, data.users_or_empty, item_index, vocabulary
    )
    return _FittedSources(sources, features, history, user_index)


def _training_slice(
    model: RecommenderModel,
    fitted: _FittedSources,
    label_part: pd.DataFrame,
    fold: int,
    like: LikePredictor | None = None,
) -> TrainingSlice | None:
    """Candidates of the users with both a history and labels; ``None`` if there are none.

    ``like`` gives the ``like_probability`` column (see :func:`_fold_like`).
    """
    held_out = build_histories(label_part, fitted.user_index, model.item_index)
    labels = held_out.timestamps
    # Graded relevance: a liked movie (rating >= 4) counts 2, any other rating 1.
    grades = _liked(held_out.ratings) if model.config.relevance == "liked" else None
    has_both = (np.diff(labels.indptr) > 0) & (np.diff(fitted.history.timestamps.indptr) > 0)
    rows = np.flatnonzero(has_both)
    if rows.size == 0:
        return None
    features, targets, groups, users = [], [], [], []
    step = rows_per_batch(model.config.batch_size, len(model.item_index))
    for start in range(0, rows.size, step):
        batch = rows[start : start + step]
        user_ids = fitted.user_index.ids[batch]
        candidates, matrix = candidate_features(
            model.config,
            fitted.sources,
            fitted.features,
            fitted.history.take_rows(batch),
            user_ids,
            like=like,
        )
        hit = np.asarray(labels[batch][candidates.rows, candidates.items]).ravel() != 0
        target = hit.astype(np.float32)
        if grades is not None:
            target += np.asarray(grades[batch][candidates.rows, candidates.items]).ravel()
        sizes = np.bincount(candidates.rows, minlength=batch.size)
        features.append(matrix)
        targets.append(target)
        groups.append(sizes[sizes > 0])
        users.append(np.repeat(user_ids, sizes))
    recall = float((np.concatenate(targets) > 0).sum() / max(labels[rows].nnz, 1))
    logger.info("fold %d: %d users, candidate recall %.3f", fold, rows.size, recall)
    return TrainingSlice(
        features=np.concatenate(features),
        labels=np.concatenate(targets),
        groups=np.concatenate(groups),
        users=np.concatenate(users),
        candidate_recall=recall,
    )


def _liked(ratings: sp.csr_matrix) -> sp.csr_matrix:
    """1 where a stored rating is at least :data:`LIKED_RATING`, 0 elsewhere."""
    liked = sp.csr_matrix(ratings, dtype=np.float32, copy=True)
    liked.data = (liked.data >= LIKED_RATING).astype(np.float32)
    return liked


def _like_rows(
    fitted: _FittedSources, context: LikeContext, label_part: pd.DataFrame, item_index: IdIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like-model rows of one fold: its held-out pairs, described from its fit part.

    Returns
    -------
    features : numpy.ndarray of float32, shape (n_pairs, len(LIKE_FEATURES))
    liked : numpy.ndarray of bool, shape (n_pairs,)
    user_ids : numpy.ndarray of int, shape (n_pairs,)
    """
    rows = fitted.user_index.index_of(label_part["user_id"].to_numpy())
    items = item_index.index_of(label_part["item_id"].to_numpy())
    known = (rows >= 0) & (items >= 0)
    if not known.any():
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros((0, len(LIKE_FEATURES)), dtype=np.float32), empty.astype(bool), empty
    features = context.describe(
        fitted.features, fitted.history, fitted.user_index.ids, rows[known], items[known]
    )
    liked = label_part["rating"].to_numpy()[known] >= LIKED_RATING
    return features, liked, label_part["user_id"].to_numpy()[known]


def _like_only_rows(
    model: RecommenderModel,
    data: InteractionData,
    steps: Iterator[tuple[pd.DataFrame, pd.DataFrame]],
    n_folds: int,
) -> list[tuple[np.ndarray, ...]]:
    """Like-model rows of ``n_folds`` further time folds, without their recall sources.

    The like model answers "will the viewer like what they rate next", so it learns
    from time folds only, as many as the ranker has folds: each ranker fold held out at
    random is replaced by one more label window back in time.
    """
    rows = []
    for fold, (fit_part, label_part) in zip(range(n_folds), steps, strict=False):
        known = data.with_ratings(fit_part)
        user_index = IdIndex(fit_part["user_id"].to_numpy())
        history = build_histories(fit_part, user_index, model.item_index)
        features = FeatureBuilder(**model.config.feature_params).fit(
            history, known.items_or_empty, known.users_or_empty, model.item_index, model.vocabulary
        )
        fitted = _FittedSources({}, features, history, user_index)
        context = LikeContext.fit(history.ratings)
        sample = label_sample(model.config, label_part, fold)
        rows.append(_like_rows(fitted, context, sample, model.item_index))
    return rows


def _fold_like(
    config: PipelineConfig, context: LikeContext, pairs: tuple[np.ndarray, ...]
) -> LikePredictor | None:
    """The fold's out-of-fold like model (two halves of its viewers, crossed), if wanted."""
    if not config.like_feature:
        return None
    threads = config.ranker.num_threads
    return CrossFittedLike.fit(context, pairs, config.validation_share, config.seed, threads)


def _fit_like_model(
    model: RecommenderModel, ratings: pd.DataFrame, rows: Sequence[tuple[np.ndarray, ...]]
) -> LikeModel | None:
    """The like classifier on every fold's rows; its context refitted on all ratings.

    ``None`` when the folds hold fewer than 100 pairs or a single class (tiny data).
    """
    features = np.concatenate([part[0] for part in rows])
    liked = np.concatenate([part[1] for part in rows])
    if liked.size < 100 or liked.all() or not liked.any():
        logger.warning("like model skipped: %d labelled pairs of one class or too few", liked.size)
        return None
    config = model.config
    classifier = fit_classifier(
        features, liked, config.validation_share, config.seed, config.ranker.num_threads
    )
    history = build_histories(ratings, IdIndex(ratings["user_id"].to_numpy()), model.item_index)
    return LikeModel(LikeContext.fit(history.ratings), classifier)
