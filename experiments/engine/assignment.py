"""Deterministic assignment of viewers to experiment variants.

A viewer's variant is a pure function of ``(salt, viewer_id, weights)``: the SHA-256 of
``"<salt>:<viewer_id>"`` read as a uniform number in ``[0, 1)`` and placed on the
cumulative weights. SHA-256 (not the built-in ``hash()``, which is randomised per
process for strings) makes the answer the same in every process, on every restart and
under every Python version; a different salt gives an independent draw, so the viewers
of one experiment are re-shuffled in the next.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

import numpy as np

# 53 bits fill a double's mantissa exactly: every value is representable, none rounds to 1.
_MANTISSA_BITS = 53


def _check_weights(weights: Sequence[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("weights must be a non-empty sequence of numbers")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"weights must be finite and non-negative, got {list(weights)!r}")
    if array.sum() <= 0:
        raise ValueError(f"at least one weight must be positive, got {list(weights)!r}")
    return array


def unit_hash(salt: str, viewer_id: int) -> float:
    """The viewer's uniform draw in ``[0, 1)`` for this salt (stable everywhere)."""
    digest = hashlib.sha256(f"{salt}:{int(viewer_id)}".encode()).digest()
    bits = int.from_bytes(digest[:8], "big") >> (64 - _MANTISSA_BITS)
    return bits / 2**_MANTISSA_BITS


def assign_variant(salt: str, viewer_id: int, weights: Sequence[float]) -> int:
    """Index of the variant this viewer sees.

    Parameters
    ----------
    salt : str
        The experiment's salt; viewers are re-drawn independently for another salt.
    viewer_id : int
    weights : sequence of float, shape (n_variants,)
        Non-negative traffic shares (need not sum to 1); a zero-weight variant is never
        assigned.

    Returns
    -------
    int
        Index into ``weights``; ``P(i) = weights[i] / sum(weights)``.
    """
    return Assigner(weights)(salt, viewer_id)


class Assigner:
    """:func:`assign_variant` for fixed weights, checked and summed once: serving assigns
    a viewer on every request."""

    def __init__(self, weights: Sequence[float]) -> None:
        array = _check_weights(weights)
        # The same floats as before; a bisection on them is ``searchsorted(side="right")``.
        self._cumulative = tuple(np.cumsum(array / array.sum()).tolist())
        # Rounding can leave the last cumulative value a hair under 1: draws beyond it go
        # to the last variant that has weight (``side="right"`` never lands on a
        # zero-width, zero-weight, interval).
        self._last_positive = int(np.flatnonzero(array > 0)[-1])

    def __call__(self, salt: str, viewer_id: int) -> int:
        index = bisect.bisect_right(self._cumulative, unit_hash(salt, viewer_id))
        return min(index, self._last_positive)
