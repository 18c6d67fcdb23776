"""Experiment statistics against published reference values and by simulation."""

from __future__ import annotations

import math
from dataclasses import astuple

import numpy as np
import pytest
from scipy import stats

from experiments.engine.statistics import (
    LiftResult,
    proportion_ci,
    sign_test_p_value,
    srm_p_value,
    welch_lift,
)


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        # statsmodels.stats.proportion.proportion_confint(..., method="wilson")
        (10, 100, (0.0552291370606751, 0.17436566150491345)),
        (0, 10, (0.0, 0.2775327998628892)),
        (10, 10, (0.7224672001371107, 1.0)),
        (1, 2, (0.09453120573423994, 0.9054687942657601)),
    ],
)
def test_wilson_interval_matches_reference(
    successes: int, trials: int, expected: tuple[float, float]
) -> None:
    assert proportion_ci(successes, trials) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval_widens_with_the_level_and_handles_no_trials() -> None:
    low_90, high_90 = proportion_ci(30, 200, level=0.90)
    low_99, high_99 = proportion_ci(30, 200, level=0.99)
    assert low_99 < low_90 < 0.15 < high_90 < high_99
    assert proportion_ci(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "level"), [(-1, 10, 0.95), (11, 10, 0.95), (1, 10, 1.0)]
)
def test_wilson_interval_refuses_bad_input(successes: int, trials: int, level: float) -> None:
    with pytest.raises(ValueError):
        proportion_ci(successes, trials, level)


def test_welch_lift_matches_scipy_and_the_delta_method_by_hand() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    b = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    result = welch_lift(a, b)
    # Welch: t = 3 / sqrt(2.5/5 + 10/5) = 1.897..., df = 5.882..., p = 0.10753...
    assert result.p_value == pytest.approx(0.10753119493062728, rel=1e-9)
    assert result.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert result.lift == pytest.approx(1.0)
    # Delta method on the log ratio: se = sqrt((10/5) / 6^2 + (2.5/5) / 3^2) = 1/3, t
    # quantile at df = 100/17; the interval of the ratio 2 is back-transformed.
    half = stats.t.ppf(0.975, 100 / 17) / 3
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (2 * np.exp(-half) - 1, 2 * np.exp(half) - 1)
    )


def test_a_zero_treatment_mean_uses_the_linear_delta_method() -> None:
    a = np.array([1.0, 2.0, 3.0])
    result = welch_lift(a, np.array([-1.0, 1.0]))
    # ratio 0: se = sqrt(2/2 + 0) / 2, t quantile at the Welch df.
    share_a, share_b = 1 / 3, 1.0
    df = (share_a + share_b) ** 2 / (share_a**2 / 2 + share_b**2 / 1)
    half = stats.t.ppf(0.975, df) * np.sqrt(share_b) / 2
    assert result.lift == -1.0
    assert (result.ci_low, result.ci_high) == pytest.approx((-1 - half, -1 + half))


def test_a_small_control_mean_keeps_the_interval_above_minus_100_percent() -> None:
    a = np.r_[np.zeros(17), [0.5, 0.5, 0.5]]
    b = np.r_[np.full(15, 0.5), np.zeros(14)]
    result = welch_lift(a, b)
    # The test says b wins (p ≈ 0.005) and so does the interval (the linear one would
    # reach far below -100% here).
    assert result.p_value < 0.01
    assert 0 < result.ci_low < result.lift < result.ci_high


def test_welch_lift_sign_and_symmetry() -> None:
    rng = np.random.default_rng(0)
    a = rng.binomial(10, 0.10, 2000) / 10
    b = rng.binomial(10, 0.13, 2000) / 10
    better = welch_lift(a, b)
    worse = welch_lift(b, a)
    assert better.lift > 0 > worse.lift
    assert better.ci_low > 0 and better.p_value < 1e-6
    assert better.p_value == pytest.approx(worse.p_value)
    assert better.lift == pytest.approx(b.mean() / a.mean() - 1)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [0.1, 0.2], LiftResult(0.0, 0.0, 0.0, 1.0)),
        ([0.1], [0.2], LiftResult(1.0, 1.0, 1.0, 1.0)),
        ([0.2, 0.2, 0.2], [0.3, 0.3], LiftResult(0.5, 0.5, 0.5, 0.0)),
        ([0.2, 0.2], [0.2, 0.2, 0.2], LiftResult(0.0, 0.0, 0.0, 1.0)),
    ],
)
def test_welch_lift_degenerate_cases_are_documented_values(
    a: list[float], b: list[float], expected: LiftResult
) -> None:
    result = welch_lift(np.array(a), np.array(b))
    assert astuple(result) == pytest.approx(astuple(expected))
    assert all(math.isfinite(value) for value in (result.lift, result.ci_low, result.ci_high))


def test_welch_lift_with_a_zero_baseline_still_tests_the_difference() -> None:
    result = welch_lift(np.zeros(50), np.r_[np.ones(25), np.zeros(25)])
    assert (result.lift, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.p_value < 1e-6


def test_welch_lift_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="finite"):
        welch_lift(np.array([0.1, np.nan]), np.array([0.1, 0.2]))


def test_a_a_false_positive_rate_is_about_five_percent() -> None:
    """Calibration: two groups from the same skewed per-viewer CTR distribution."""
    rng = np.random.default_rng(2008)
    repetitions = 2000
    flagged = 0
    covered = 0
    for _ in range(repetitions):
        # Viewers differ in taste (beta) and in how many lists they see: CTRs are skewed.
        impressions = rng.integers(1, 6, size=2 * 300)
        rates = rng.beta(0.5, 4.0, size=2 * 300)
        ctr = rng.binomial(impressions * 10, rates) / (impressions * 10)
        result = welch_lift(ctr[:300], ctr[300:])
        flagged += result.p_value < 0.05
        covered += result.ci_low <= 0 <= result.ci_high
    rate = flagged / repetitions
    # Binomial 99.9% band around 5% for 2,000 repetitions is about ±1.6 points.
    assert 0.034 < rate < 0.066
    assert 0.934 < covered / repetitions < 0.966


def test_srm_matches_the_chi_square_reference() -> None:
    # (450 - 500)^2 / 500 + (550 - 500)^2 / 500 = 10 on 1 df.
    assert srm_p_value([450, 550], [1, 1]) == pytest.approx(stats.chi2.sf(10, 1))
    assert srm_p_value([450, 550], [0.45, 0.55]) == pytest.approx(1.0)
    assert srm_p_value([500, 500], [50, 50]) == pytest.approx(1.0)
    assert srm_p_value([300, 300, 400], [1, 1, 2]) < 1e-6


def test_srm_flags_a_45_55_imbalance_on_a_thousand_viewers_only_at_scale() -> None:
    assert srm_p_value([4500, 5500], [1, 1]) < 1e-10
    assert srm_p_value([45, 55], [1, 1]) > 0.3


def test_srm_edge_cases() -> None:
    assert srm_p_value([0, 0], [1, 1]) == 1.0
    assert srm_p_value([10, 0], [1, 0]) == 1.0
    assert srm_p_value([10, 3], [1, 0]) == 0.0
    with pytest.raises(ValueError, match="same length"):
        srm_p_value([1, 2, 3], [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        srm_p_value([1, -2], [1, 1])


@pytest.mark.parametrize(
    ("wins_a", "wins_b", "expected"),
    [
        (8, 2, 0.109375),  # 2 * (1 + 10 + 45) / 1024
        (2, 8, 0.109375),
        (5, 5, 1.0),
        (10, 0, 2 / 1024),
        (0, 0, 1.0),
        (60, 40, 0.056887933640980),
    ],
)
def test_sign_test_is_the_exact_two_sided_binomial(
    wins_a: int, wins_b: int, expected: float
) -> None:
    assert sign_test_p_value(wins_a, wins_b) == pytest.approx(expected, rel=1e-9)


def test_sign_test_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        sign_test_p_value(-1, 3)
