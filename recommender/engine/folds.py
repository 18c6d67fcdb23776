"""The ranker's folds: which of the training ratings each fold holds out as labels.

``PipelineConfig.label_split`` says whether a fold holds out each user's latest ratings
(a further label window back in time for each time fold) or a random share of them;
:func:`label_sample` keeps a fold's labels within the ranker's row budget.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from recommender.engine.config import PipelineConfig
from recommender.engine.sampling import ranker_label_sample
from recommender.engine.splits import stratified_split, time_split


def ranker_folds(
    config: PipelineConfig,
    ratings: pd.DataFrame,
    steps: Iterator[tuple[pd.DataFrame, pd.DataFrame]] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, float]]:
    """``(fit part, label part, row weight)`` of each fold of ``config.label_split``.

    Time folds take the next of ``steps`` (default: :func:`time_steps` of ``ratings``),
    so a caller holding the iterator can step further back afterwards.
    """
    steps = time_steps(ratings, config.label_share) if steps is None else steps
    for fold in range(config.n_folds):
        if is_time_fold(config, fold):
            yield *next(steps), 1.0
            continue
        fit_part, label_part = stratified_split(
            ratings, 1 - config.label_share, seed=config.seed + fold
        )
        yield fit_part, label_part, config.random_fold_weight


def is_time_fold(config: PipelineConfig, fold: int) -> bool:
    """Whether fold ``fold`` of ``config.label_split`` holds out each user's latest ratings."""
    return config.label_split == "time" or (config.label_split == "mixed" and fold % 2 == 0)


def time_steps(
    ratings: pd.DataFrame, label_share: float
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """``(fit part, label part)`` of each user's latest ratings, one window further back each."""
    remaining = ratings
    while True:
        fit_part, label_part = time_split(remaining, 1 - label_share)
        yield fit_part, label_part
        remaining = fit_part


def label_sample(config: PipelineConfig, label_part: pd.DataFrame, fold: int) -> pd.DataFrame:
    """The fold's labels of as many viewers as ``config.ranker_row_budget`` allows."""
    return ranker_label_sample(
        label_part,
        row_budget=config.ranker_row_budget,
        n_folds=config.n_folds,
        rows_per_user=config.n_candidates * len(config.sources),
        seed=config.seed + fold,
    )
