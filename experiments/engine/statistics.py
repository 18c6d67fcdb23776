"""Statistics of online experiments, computed over viewers (the unit of randomisation).

Every function returns finite floats (never NaN or infinity) so results serialise as
strict JSON; the degenerate cases (no data, no variance) have documented values. The
distributions come from :mod:`scipy.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")


def proportion_ci(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson 1927; statsmodels' ``"wilson"``).

    Unlike the normal (Wald) interval it stays inside ``[0, 1]`` and keeps its coverage
    near 0 and 1, where click-through rates live. With no trials the interval is the
    whole ``(0.0, 1.0)``.
    """
    _check_level(level)
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes!r} of {trials!r}")
    if trials == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = successes / trials
    denominator = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    half /= denominator
    # At 0 and ``trials`` successes the bound is exactly 0 or 1; rounding would miss it.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class LiftResult:
    """Relative lift of variant b over variant a with its interval and p-value."""

    lift: float
    ci_low: float
    ci_high: float
    p_value: float


def _welch_p_value(diff: float, se: float, df: float, enough: bool) -> float:
    if not enough:
        return 1.0
    if se == 0:
        # Both groups constant: the difference is exact.
        return 1.0 if diff == 0 else 0.0
    return float(2 * stats.t.sf(abs(diff) / se, df))


def welch_lift(
    per_viewer_a: np.ndarray, per_viewer_b: np.ndarray, level: float = 0.95
) -> LiftResult:
    """Relative lift ``mean_b / mean_a - 1`` of a per-viewer metric (e.g. CTR).

    Each viewer contributes one value (their CTR), so viewers, not impressions, are the
    independent units, as the randomisation is by viewer.

    - ``p_value``: Welch's unequal-variance t-test of ``mean_b == mean_a`` (which is
      ``lift == 0``), as ``scipy.stats.ttest_ind(b, a, equal_var=False)``.
    - ``ci_low, ci_high``: delta-method interval of the ratio of means on the log scale,
      ``log(mean_b/mean_a) ± t * sqrt(var_b/(n_b mean_b^2) + var_a/(n_a mean_a^2))``,
      back-transformed to a lift (asymmetric, never below -100%), with the t quantile at
      the Welch-Satterthwaite degrees of freedom. When the ratio is not positive (a
      treatment mean of 0, or negative metrics) the linear delta method is used instead,
      ``lift ± t * sqrt(var_b/n_b + ratio^2 var_a/n_a) / |mean_a|``. The interval and the
      test are different approximations, so they can disagree right at the boundary.

    Degenerate cases (documented values, never NaN):

    - either group empty, or ``mean_a == 0`` (relative lift undefined): ``lift`` and the
      interval are ``0.0``; the p-value is still Welch's when it can be computed;
    - fewer than two viewers in a group (no variance estimate): the interval collapses to
      the point estimate and ``p_value`` is ``1.0`` (no evidence);
    - zero variance in both groups: the interval collapses to the point estimate and
      ``p_value`` is ``0.0`` if the means differ, ``1.0`` if they are equal.

    Parameters
    ----------
    per_viewer_a, per_viewer_b : numpy.ndarray, shape (n_a,), (n_b,)
        The metric per viewer in the control (a) and the treatment (b).
    level : float
        Confidence level of the interval.
    """
    _check_level(level)
    a = np.asarray(per_viewer_a, dtype=float).ravel()
    b = np.asarray(per_viewer_b, dtype=float).ravel()
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("per-viewer values must be finite")
    if a.size == 0 or b.size == 0:
        return LiftResult(0.0, 0.0, 0.0, 1.0)
    mean_a, mean_b = _mean(a), _mean(b)
    enough = a.size >= 2 and b.size >= 2
    share_a, share_b = _variance_of_mean(a), _variance_of_mean(b)
    se_diff = math.sqrt(share_a + share_b)
    df = _welch_df(share_a, share_b, a.size, b.size)
    p_value = _welch_p_value(mean_b - mean_a, se_diff, df, enough)
    if mean_a == 0:
        return LiftResult(0.0, 0.0, 0.0, p_value)
    lift = mean_b / mean_a - 1
    if not enough or se_diff == 0:
        return LiftResult(lift, lift, lift, p_value)
    quantile = float(stats.t.ppf(0.5 + level / 2, df))
    low, high = _lift_interval(mean_a, mean_b, share_a, share_b, quantile)
    return LiftResult(lift, low, high, p_value)


def _lift_interval(
    mean_a: float, mean_b: float, share_a: float, share_b: float, quantile: float
) -> tuple[float, float]:
    """Delta-method interval of ``mean_b / mean_a - 1`` (``share = var / n``)."""
    ratio = mean_b / mean_a
    if ratio > 0:
        # On the log scale: an asymmetric interval that never crosses -100%, and that
        # stays sane when the control's mean is small (where the linear one explodes).
        half = quantile * math.sqrt(share_b / mean_b**2 + share_a / mean_a**2)
        return ratio * math.exp(-half) - 1, ratio * math.exp(half) - 1
    half = quantile * math.sqrt(share_b + ratio * ratio * share_a) / abs(mean_a)
    return ratio - 1 - half, ratio - 1 + half


def _mean(values: np.ndarray) -> float:
    """Mean of a non-empty group; exact for a constant group, so equal groups compare equal."""
    return float(values[0]) if values.min() == values.max() else float(values.mean())


def _variance_of_mean(values: np.ndarray) -> float:
    """``var / n`` of a group; exactly 0 for a constant group (``var`` would round above 0)."""
    if values.size < 2 or values.min() == values.max():
        return 0.0
    return float(values.var(ddof=1)) / values.size


def _welch_df(share_a: float, share_b: float, n_a: int, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom (``share = var / n``)."""
    denominator = 0.0
    if n_a >= 2:
        denominator += share_a * share_a / (n_a - 1)
    if n_b >= 2:
        denominator += share_b * share_b / (n_b - 1)
    if denominator == 0:
        return 1.0
    return (share_a + share_b) ** 2 / denominator


def srm_p_value(observed: Sequence[int], weights: Sequence[float]) -> float:
    """Sample-ratio-mismatch check: chi-square goodness of fit of viewers per variant.

    ``observed[i]`` viewers landed in variant ``i``, which was meant to get
    ``weights[i] / sum(weights)`` of them. A small p-value (the usual alarm is
    ``p < 0.001``) means the assignment or the logging is broken, and the experiment's
    other numbers cannot be trusted. Returns ``1.0`` with no viewers or a single
    variant with weight, and ``0.0`` when a zero-weight variant got viewers.
    """
    counts = np.asarray(observed, dtype=float)
    shares = np.asarray(weights, dtype=float)
    if counts.shape != shares.shape or counts.ndim != 1:
        raise ValueError("observed and weights must be sequences of the same length")
    if np.any(counts < 0) or np.any(shares < 0) or not np.all(np.isfinite(shares)):
        raise ValueError("observed counts and weights must be non-negative")
    if shares.sum() <= 0:
        raise ValueError("at least one weight must be positive")
    if np.any(counts[shares == 0] > 0):
        return 0.0
    counts, shares = counts[shares > 0], shares[shares > 0]
    total = counts.sum()
    if total == 0 or counts.size < 2:
        return 1.0
    expected = total * shares / shares.sum()
    return float(stats.chisquare(counts, expected).pvalue)


def sign_test_p_value(wins_a: int, wins_b: int) -> float:
    """Two-sided exact binomial (sign) test of ``P(a wins) = 1/2``; ties are left out.

    Returns ``1.0`` when no list had a winner.
    """
    if wins_a < 0 or wins_b < 0:
        raise ValueError(f"wins must be non-negative, got {wins_a!r} and {wins_b!r}")
    n = wins_a + wins_b
    if n == 0:
        return 1.0
    return float(stats.binomtest(wins_a, n, 0.5).pvalue)
