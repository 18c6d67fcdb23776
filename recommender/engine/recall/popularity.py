"""Most-popular items, optionally with exponential recency decay."""

from __future__ import annotations

import logging
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import BaseRecallSource, _check_non_negative

logger = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0


class PopularitySource(BaseRecallSource):
    """Item popularity; the cold-start fallback for users without history.

    Parameters
    ----------
    half_life_days : float, optional
        If given, an interaction ``d`` days older than the newest one counts
        ``0.5 ** (d / half_life_days)``; recent hits then outrank old classics.
        Requires the interaction values to be timestamps.
    """

    name: ClassVar[str] = "popularity"
    needs_history: ClassVar[bool] = False
    _state_fields: ClassVar[tuple[str, ...]] = ("scores_",)

    def __init__(self, half_life_days: float | None = None) -> None:
        if half_life_days is not None:
            _check_non_negative("half_life_days", half_life_days)
            if half_life_days == 0:
                raise ValueError("half_life_days must be > 0 (or None for plain counts)")
        super().__init__(half_life_days=half_life_days)
        self.half_life_days = half_life_days
        self.scores_: np.ndarray | None = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Count (optionally decayed) interactions per item.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
            Values are timestamps when ``half_life_days`` is set.
        """
        interactions = sp.csr_matrix(interactions, dtype=np.float64)
        weights = np.ones_like(interactions.data)
        if self.half_life_days is not None and interactions.nnz:
            age_days = (interactions.data.max() - interactions.data) / SECONDS_PER_DAY
            weights = 0.5 ** (age_days / self.half_life_days)
        self.scores_ = np.bincount(
            interactions.indices, weights=weights, minlength=interactions.shape[1]
        ).astype(np.float64)
        self.n_items_ = int(interactions.shape[1])
        return self

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """The same popularity vector for every row, shape (n_rows, n_items)."""
        user_items = self._check_user_items(user_items)
        return np.tile(self.scores_, (user_items.shape[0], 1))

    def _similarity_rows(self, item_indices: np.ndarray) -> np.ndarray:
        # Popularity has no item-item notion: "similar" means "popular".
        return np.tile(self.scores_, (len(item_indices), 1))
