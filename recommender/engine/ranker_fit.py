"""The ranker's rows and its LightGBM fit: early stopping on held-out viewers, then a refit.

:mod:`recommender.engine.training` builds one :class:`TrainingSlice` per fold (candidates
labelled by the fold's held-out ratings) and hands them to :func:`train_ranker`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from recommender.engine.config import PipelineConfig
from recommender.engine.features import CATEGORICAL_FEATURES
from recommender.engine.ranking import LightGBMRanker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSlice:
    """Ranker rows of one fold: one group of candidates per user, labelled by hits."""

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    users: np.ndarray
    candidate_recall: float
    weight: float = 1.0

    def select(self, valid_users: np.ndarray, is_valid: bool) -> TrainingSlice:
        """The groups whose user is (or is not) in ``valid_users``."""
        group_users = self.users[np.cumsum(self.groups) - 1]
        group_valid = np.isin(group_users, valid_users) == is_valid
        row_valid = np.repeat(group_valid, self.groups)
        return TrainingSlice(
            features=self.features[row_valid],
            labels=self.labels[row_valid],
            groups=self.groups[group_valid],
            users=self.users[row_valid],
            candidate_recall=self.candidate_recall,
            weight=self.weight,
        )


def train_ranker(
    config: PipelineConfig,
    feature_names: Sequence[str],
    slices: Sequence[TrainingSlice],
    refit: bool,
) -> tuple[LightGBMRanker, dict[str, int | bool]]:
    """Early-stop on held-out users, then refit on every group with that many trees.

    The internal validation curve is flat and noisy, so it only picks the tree
    count; refitting on all users recovers the data spent on validation. When the
    folds' viewers were sampled (``refit`` false) data is not scarce and the refit, a
    second LightGBM fit, is skipped unless ``config.refit_when_sampled``.

    Returns
    -------
    ranker : LightGBMRanker
    report : dict
        ``ranker_trees`` (the early-stopped tree count, reported even when the ranker
        is refitted), ``ranker_rows`` and ``ranker_refit``.
    """
    rng = np.random.default_rng(config.seed)
    all_users = np.unique(np.concatenate([part.users for part in slices]))
    n_valid = max(1, round(config.validation_share * all_users.size))
    valid_users = rng.choice(all_users, size=n_valid, replace=False)
    fit_parts = [part.select(valid_users, is_valid=False) for part in slices]
    valid_parts = [part.select(valid_users, is_valid=True) for part in slices]
    names = list(feature_names)
    ranker = LightGBMRanker(config.ranker)
    *fit_rows, fit_weights = stack_slices(fit_parts)
    started = time.perf_counter()
    ranker.fit(
        *fit_rows, tuple(stack_slices(valid_parts)[:3]), names, CATEGORICAL_FEATURES, fit_weights
    )
    n_rows = sum(len(part.labels) for part in slices)
    report = {
        "ranker_trees": ranker.booster_.best_iteration,
        "ranker_rows": n_rows,
        "ranker_refit": config.refit_ranker and (refit or config.refit_when_sampled),
    }
    logger.info("ranker: %s, fitted in %.1f s", report, time.perf_counter() - started)
    if not report["ranker_refit"]:
        return ranker, report
    refitted = LightGBMRanker(replace(config.ranker, n_estimators=max(report["ranker_trees"], 1)))
    *rows, weights = stack_slices(slices)
    refitted.fit(*rows, None, names, CATEGORICAL_FEATURES, weights)
    return refitted, report


def stack_slices(
    parts: Sequence[TrainingSlice],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(features, labels, groups, row weights)`` of several slices, in order."""
    return (
        np.concatenate([part.features for part in parts]),
        np.concatenate([part.labels for part in parts]),
        np.concatenate([part.groups for part in parts]),
        np.concatenate([np.full(len(part.labels), part.weight) for part in parts]),
    )
