"""LightGBM ranker / classifier over candidate features."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Self

import lightgbm as lgb
import numpy as np

logger = logging.getLogger(__name__)

OBJECTIVES = ("rank_xendcg", "lambdarank", "binary")


@dataclass(frozen=True)
class RankerConfig:
    """LightGBM hyper-parameters.

    Small trees and many samples per leaf because the training rows are highly
    correlated (hundreds of candidates per user); ``rank_xendcg`` overfits
    later than LambdaRank on MovieLens.
    """

    objective: str = "rank_xendcg"
    num_leaves: int = 15
    min_data_in_leaf: int = 200
    learning_rate: float = 0.05
    n_estimators: int = 200
    early_stopping_rounds: int = 30
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    seed: int = 0
    num_threads: int = 2

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.num_leaves < 2 or self.min_data_in_leaf < 1 or self.n_estimators < 1:
            raise ValueError("num_leaves >= 2, min_data_in_leaf >= 1, n_estimators >= 1 required")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")

    def lightgbm_params(self) -> dict[str, Any]:
        """Parameters for :func:`lightgbm.train`."""
        metric = "binary_logloss" if self.objective == "binary" else "ndcg"
        params: dict[str, Any] = {
            "objective": self.objective,
            "metric": metric,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "learning_rate": self.learning_rate,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }
        if metric == "ndcg":
            params["eval_at"] = [10]
        return params


class LightGBMRanker:
    """Learning-to-rank (or binary) model over a dense feature matrix.

    Parameters
    ----------
    config : RankerConfig, optional
    """

    def __init__(self, config: RankerConfig | None = None) -> None:
        self.config = config or RankerConfig()
        self.booster_: lgb.Booster | None = None
        self.feature_names_: list[str] = []

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray | None,
        valid: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None,
        feature_names: Sequence[str],
        categorical: Sequence[str] = (),
        weights: np.ndarray | None = None,
    ) -> Self:
        """Train with early stopping on ``valid``.

        Parameters
        ----------
        features : numpy.ndarray, shape (n_rows, n_features)
        labels : numpy.ndarray, shape (n_rows,): relevance (0/1) or class labels
        groups : numpy.ndarray of int, shape (n_groups,), or None
            Sizes of consecutive query groups (rows of one user); None for binary.
        valid : tuple (features, labels, groups), optional
            Early-stopping slice; without it ``n_estimators`` trees are grown.
        feature_names : sequence of str, length n_features
        categorical : sequence of str
            Names of integer-coded categorical columns (NaN = missing).
        weights : numpy.ndarray, shape (n_rows,), optional
            Weight of each row's gradient (all 1 when omitted).
        """
        ranking = self.config.objective != "binary"
        if ranking and groups is None:
            raise ValueError(f"objective {self.config.objective!r} needs query groups")
        self.feature_names_ = list(feature_names)
        dataset_args = {
            "feature_name": self.feature_names_,
            "categorical_feature": list(categorical),
        }
        train = lgb.Dataset(
            features,
            labels,
            group=groups if ranking else None,
            weight=weights,
            free_raw_data=True,
            **dataset_args,
        )
        valid_sets, callbacks = [], [lgb.log_evaluation(period=0)]
        if valid is not None:
            valid_sets.append(_validation_set(valid, train, ranking, dataset_args))
            callbacks.append(lgb.early_stopping(self.config.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(
            self.config.lightgbm_params(),
            train,
            num_boost_round=self.config.n_estimators,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        logger.info(
            "ranker trained: %d rows, %d features, best iteration %d",
            features.shape[0],
            features.shape[1],
            self.booster_.best_iteration,
        )
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Scores (higher = better), shape (n_rows,)."""
        if self.booster_ is None:
            raise RuntimeError("ranker is not fitted; call fit() first")
        iteration = self.booster_.best_iteration or None
        return self.booster_.predict(features, num_iteration=iteration, num_threads=1)

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature, descending."""
        if self.booster_ is None:
            raise RuntimeError("ranker is not fitted; call fit() first")
        gains = self.booster_.feature_importance(importance_type="gain")
        pairs = sorted(zip(self.feature_names_, gains.tolist(), strict=True), key=lambda p: -p[1])
        return dict(pairs)

    def to_string(self) -> str:
        """LightGBM text model (best iteration only)."""
        if self.booster_ is None:
            raise RuntimeError("ranker is not fitted; call fit() first")
        return self.booster_.model_to_string(num_iteration=self.booster_.best_iteration or None)

    def config_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serialisable dict."""
        return asdict(self.config)

    @classmethod
    def from_string(cls, model: str, config: dict[str, Any]) -> LightGBMRanker:
        """Rebuild from :meth:`to_string` and :meth:`config_dict` output."""
        ranker = cls(RankerConfig(**config))
        ranker.booster_ = lgb.Booster(model_str=model)
        ranker.feature_names_ = ranker.booster_.feature_name()
        return ranker


def _validation_set(
    valid: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    train: lgb.Dataset,
    ranking: bool,
    dataset_args: dict[str, Any],
) -> lgb.Dataset:
    """The early-stopping slice, binned like ``train`` (``reference``)."""
    valid_features, valid_labels, valid_groups = valid
    return lgb.Dataset(
        valid_features,
        valid_labels,
        group=valid_groups if ranking else None,
        reference=train,
        **dataset_args,
    )
