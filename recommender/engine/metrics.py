"""Offline evaluation metrics with explicit, documented definitions.

Top-K metrics take ``recommended`` as an ``(n_users, K')`` array of item ids,
best first, padded with ``-1`` (never relevant), and ``relevant`` as one
collection of item ids per user.  Users without relevant items are skipped (they
cannot be evaluated; Microsoft Recommenders evaluates only users present in the
test set, which is the same thing).  Relevance is binary.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

import numpy as np
from scipy.stats import rankdata

logger = logging.getLogger(__name__)


def _hits(
    recommended: np.ndarray, relevant: Sequence[Collection[int]], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean hit matrix and relevant-set sizes of the evaluable users.

    Returns
    -------
    hits : numpy.ndarray of bool, shape (n_evaluable, k)
    n_relevant : numpy.ndarray of int, shape (n_evaluable,)
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    recommended = np.asarray(recommended)
    if recommended.ndim != 2 or recommended.shape[0] != len(relevant):
        raise ValueError(
            f"recommended must be (n_users, K) with n_users={len(relevant)}, "
            f"got shape {recommended.shape}"
        )
    top = np.full((recommended.shape[0], k), -1, dtype=np.int64)
    width = min(k, recommended.shape[1])
    top[:, :width] = recommended[:, :width]
    hits, sizes = [], []
    for row, items in zip(top, relevant, strict=True):
        relevant_set = set(items)
        if not relevant_set:
            continue
        hits.append([item in relevant_set for item in row.tolist()])
        sizes.append(len(relevant_set))
    if not hits:
        return np.zeros((0, k), dtype=bool), np.zeros(0, dtype=np.int64)
    return np.array(hits, dtype=bool), np.array(sizes, dtype=np.int64)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def precision_at_k(recommended: np.ndarray, relevant: Sequence[Collection[int]], k: int) -> float:
    """Mean over users of ``|top-K ∩ relevant| / K``.

    The denominator is always ``K`` (also when fewer than ``K`` items were
    recommended or relevant), as in Microsoft Recommenders.
    """
    hits, _ = _hits(recommended, relevant, k)
    return _mean(hits.sum(axis=1) / k)


def recall_at_k(recommended: np.ndarray, relevant: Sequence[Collection[int]], k: int) -> float:
    """Mean over users of ``|top-K ∩ relevant| / |relevant|``."""
    hits, sizes = _hits(recommended, relevant, k)
    return _mean(hits.sum(axis=1) / sizes)


def hit_rate_at_k(recommended: np.ndarray, relevant: Sequence[Collection[int]], k: int) -> float:
    """Share of users with at least one relevant item in their top-K."""
    hits, _ = _hits(recommended, relevant, k)
    return _mean(hits.any(axis=1).astype(np.float64))


def ndcg_at_k(recommended: np.ndarray, relevant: Sequence[Collection[int]], k: int) -> float:
    """Mean NDCG@K with binary gains and a ``log2(rank + 1)`` discount.

    ``DCG = sum_{r=1..K} rel_r / log2(r + 1)``; the ideal DCG places
    ``min(|relevant|, K)`` relevant items at the top.
    """
    hits, sizes = _hits(recommended, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal = np.cumsum(discounts)[np.minimum(sizes, k) - 1] if sizes.size else sizes
    return _mean(dcg / ideal)


def map_at_k(
    recommended: np.ndarray,
    relevant: Sequence[Collection[int]],
    k: int,
    denominator: str = "min",
) -> float:
    """Mean average precision at K.

    ``AP@K = sum_{r=1..K} P@r * rel_r / D`` where ``D`` is

    - ``"min"`` (default): ``min(|relevant|, K)``, so a perfect top-K scores 1
      (the usual MAP@K, as in ``ml_metrics.mapk``);
    - ``"relevant"``: ``|relevant|``, the definition of Microsoft Recommenders'
      ``map_at_k`` (<= 1.1); it is smaller whenever a user has more than ``K``
      relevant items, so numbers from the two are not comparable.
    """
    if denominator not in ("min", "relevant"):
        raise ValueError(f"denominator must be 'min' or 'relevant', got {denominator!r}")
    hits, sizes = _hits(recommended, relevant, k)
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    total = (precision_at_rank * hits).sum(axis=1)
    norm = np.minimum(sizes, k) if denominator == "min" else sizes
    return _mean(total / norm)


def catalogue_coverage(recommended: np.ndarray, n_catalogue: int, k: int | None = None) -> float:
    """Share of the catalogue appearing in at least one user's top-K list.

    Parameters
    ----------
    recommended : numpy.ndarray, shape (n_users, K')
        Item ids, ``-1`` padding ignored.
    n_catalogue : int
        Number of recommendable items.
    k : int, optional
        Truncate lists to K first.
    """
    if n_catalogue < 1:
        raise ValueError(f"n_catalogue must be >= 1, got {n_catalogue}")
    recommended = np.asarray(recommended)
    if k is not None:
        recommended = recommended[:, :k]
    distinct = np.unique(recommended[recommended >= 0])
    return distinct.size / n_catalogue


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U; tied scores count one half).

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1} or bool, shape (n,)
    scores : numpy.ndarray of float, shape (n,)

    Returns
    -------
    float
        Probability that a random positive outscores a random negative.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate_topk(
    recommended: np.ndarray,
    relevant: Sequence[Collection[int]],
    k: int,
    n_catalogue: int,
) -> dict[str, float]:
    """All top-K metrics of this module in one dict (keys like ``"ndcg@10"``)."""
    return {
        f"ndcg@{k}": ndcg_at_k(recommended, relevant, k),
        f"precision@{k}": precision_at_k(recommended, relevant, k),
        f"recall@{k}": recall_at_k(recommended, relevant, k),
        f"map@{k}": map_at_k(recommended, relevant, k),
        f"hit_rate@{k}": hit_rate_at_k(recommended, relevant, k),
        "coverage": catalogue_coverage(recommended, n_catalogue, k),
    }
