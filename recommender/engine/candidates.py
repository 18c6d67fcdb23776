"""Candidate generation: union of every source's top-N per user.

Each candidate keeps every source's view of it (raw score, rank among the
user's eligible items and per-user z-score), not only of the sources that
nominated it, because a low rank from one source is itself evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import RecallSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateSet:
    """Candidates of a batch of history rows, one entry per (row, item).

    Attributes
    ----------
    rows : numpy.ndarray of int64, shape (n_candidates,)
        History row of each candidate, non-decreasing.
    items : numpy.ndarray of int64, shape (n_candidates,)
        Item index of each candidate.
    scores : numpy.ndarray of float64, shape (n_candidates, n_sources)
        Raw source scores; NaN where the source has no evidence (empty history).
    ranks : numpy.ndarray of float64, shape (n_candidates, n_sources)
        0-based rank among the row's eligible items; ``n_items`` when the source
        has no evidence.
    zscores : numpy.ndarray of float64, shape (n_candidates, n_sources)
        ``(score - mean) / std`` over the row's eligible items; 0 without evidence.
    source_names : tuple of str, length n_sources
    """

    rows: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    zscores: np.ndarray
    source_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.rows.size)


def _eligible_mask(user_items: sp.csr_matrix, exclude: sp.csr_matrix | None) -> np.ndarray:
    blocked = (user_items != 0) if exclude is None else ((user_items != 0) + (exclude != 0))
    return ~blocked.toarray()


def generate_candidates(
    sources: Mapping[str, RecallSource],
    user_items: sp.csr_matrix,
    n_per_source: int,
    exclude: sp.csr_matrix | None = None,
) -> CandidateSet:
    """Union of the sources' top-``n_per_source`` eligible items per row.

    Parameters
    ----------
    sources : mapping of name to fitted RecallSource
    user_items : scipy.sparse.csr_matrix, shape (n_rows, n_items)
        Histories (timestamps); history items are never candidates.
    n_per_source : int
    exclude : scipy.sparse.csr_matrix, shape (n_rows, n_items), optional
        Further items that must not be candidates.

    Returns
    -------
    CandidateSet
    """
    if n_per_source < 1:
        raise ValueError(f"n_per_source must be >= 1, got {n_per_source}")
    user_items = sp.csr_matrix(user_items)
    n_rows, n_items = user_items.shape
    eligible = _eligible_mask(user_items, exclude)
    n_eligible = eligible.sum(axis=1, keepdims=True)
    has_history = np.diff(user_items.indptr) > 0
    nominated = np.zeros((n_rows, n_items), dtype=bool)
    views = []
    for source in sources.values():
        scores = np.where(eligible, source.score(user_items), -np.inf)
        evidence = has_history if source.needs_history else np.ones(n_rows, dtype=bool)
        order = np.argsort(-scores, axis=1, kind="stable")
        ranks = np.empty((n_rows, n_items))
        np.put_along_axis(ranks, order, np.arange(n_items, dtype=np.float64)[None, :], axis=1)
        top = order[:, :n_per_source]
        top_ok = (np.take_along_axis(scores, top, axis=1) > -np.inf) & evidence[:, None]
        nominated[np.nonzero(top_ok)[0], top[top_ok]] = True
        finite = np.where(eligible, scores, 0.0)
        mean = finite.sum(axis=1, keepdims=True) / np.maximum(n_eligible, 1)
        spread = np.sqrt(
            np.where(eligible, (finite - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
            / np.maximum(n_eligible, 1)
        )
        zscores = np.divide(finite - mean, spread, out=np.zeros_like(finite), where=spread > 0)
        ranks[~evidence] = n_items
        zscores[~evidence] = 0.0
        scores[~evidence] = np.nan
        views.append((scores, ranks, zscores))
    rows, items = np.nonzero(nominated)
    logger.debug("%d candidates for %d rows", rows.size, n_rows)
    return CandidateSet(
        rows=rows.astype(np.int64),
        items=items.astype(np.int64),
        scores=np.column_stack([view[0][rows, items] for view in views]),
        ranks=np.column_stack([view[1][rows, items] for view in views]),
        zscores=np.column_stack([view[2][rows, items] for view in views]),
        source_names=tuple(sources),
    )


def candidate_recall(candidates: CandidateSet, relevant: sp.csr_matrix) -> float:
    """Share of held-out (row, item) pairs that are among the candidates.

    Parameters
    ----------
    candidates : CandidateSet
    relevant : scipy.sparse.csr_matrix, shape (n_rows, n_items)
        Held-out items per history row (any non-zero marks relevance).

    Returns
    -------
    float
        Hits / number of relevant pairs (NaN if there are none).
    """
    relevant = sp.csr_matrix(relevant)
    if relevant.nnz == 0:
        return float("nan")
    found = np.asarray(relevant[candidates.rows, candidates.items]).ravel() != 0
    return float(found.sum() / relevant.nnz)
