"""Deterministic viewer → variant assignment (pure, no database)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from experiments.engine.assignment import Assigner, assign_variant, unit_hash

N_VIEWERS = 20_000


def test_the_same_viewer_always_gets_the_same_variant() -> None:
    first = [assign_variant("exp-1", viewer, [1, 1, 1]) for viewer in range(500)]
    again = [assign_variant("exp-1", viewer, [1, 1, 1]) for viewer in range(500)]
    assert first == again


def test_assignment_is_the_same_in_another_process() -> None:
    # String hash() is randomised per process; the assignment must not be.
    code = (
        "from experiments.engine.assignment import assign_variant;"
        "print([assign_variant('exp-1', v, [1, 1]) for v in range(200)])"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": "."},
    ).stdout
    assert output.strip() == str([assign_variant("exp-1", v, [1, 1]) for v in range(200)])


def test_known_values_pin_the_hash() -> None:
    # Changing the hash would silently re-shuffle every running experiment.
    # The first 53 bits of sha256(b"salt:1") over 2**53.
    assert unit_hash("salt", 1) == 4068221816459318 / 2**53
    assert [assign_variant("s", v, [1, 1]) for v in range(10)] == [0, 0, 0, 1, 1, 0, 1, 0, 0, 1]


@pytest.mark.parametrize("weights", [[1, 1], [0.45, 0.55], [1, 2, 7], [5, 0, 5]])
def test_shares_follow_the_weights(weights: list[float]) -> None:
    counts = np.bincount(
        [assign_variant("shares", v, weights) for v in range(N_VIEWERS)], minlength=len(weights)
    )
    expected = N_VIEWERS * np.asarray(weights) / sum(weights)
    positive = expected > 0
    assert np.all(counts[~positive] == 0)
    # Goodness of fit: a broken hash would give p far below this on 20,000 draws.
    assert stats.chisquare(counts[positive], expected[positive]).pvalue > 1e-4


def test_unit_hash_is_uniform() -> None:
    draws = np.array([unit_hash("uniform", v) for v in range(N_VIEWERS)])
    assert draws.min() >= 0 and draws.max() < 1
    assert stats.kstest(draws, "uniform").pvalue > 1e-4


def test_salts_are_independent() -> None:
    first = np.array([assign_variant("exp-1", v, [1, 1]) for v in range(N_VIEWERS)])
    second = np.array([assign_variant("exp-2", v, [1, 1]) for v in range(N_VIEWERS)])
    table = np.array([[np.sum((first == i) & (second == j)) for j in (0, 1)] for i in (0, 1)])
    assert stats.chi2_contingency(table).pvalue > 1e-4
    # About half of the viewers change variant between experiments.
    assert 0.47 < np.mean(first != second) < 0.53


def test_a_single_variant_takes_everyone() -> None:
    assert {assign_variant("one", v, [3.0]) for v in range(100)} == {0}


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [1, float("nan")], [[1, 1]]])
def test_bad_weights_are_refused(weights: list) -> None:
    with pytest.raises(ValueError, match="weight"):
        assign_variant("bad", 1, weights)


@pytest.mark.parametrize("weights", [[1, 1], [0.45, 0.55], [3, 0, 1], [1, 2, 3, 0]])
def test_the_assigner_assigns_as_the_reference_computation(weights: list[float]) -> None:
    """Serving assigns with an :class:`Assigner` built once; it must agree with the
    numpy computation (``searchsorted`` on the cumulative weights) for every viewer."""
    array = np.asarray(weights, dtype=float)
    cumulative = np.cumsum(array / array.sum())
    last_positive = int(np.flatnonzero(array > 0)[-1])
    assigner = Assigner(weights)
    for viewer in range(1, 3001):
        draw = unit_hash("pin", viewer)
        expected = min(int(np.searchsorted(cumulative, draw, side="right")), last_positive)
        assert assigner("pin", viewer) == expected == assign_variant("pin", viewer, weights)
