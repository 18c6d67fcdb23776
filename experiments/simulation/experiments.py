"""Experiment specs from the command line, the predicted assignment, a readable summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from experiments.engine.assignment import assign_variant

STRATEGIES = ("active", "popularity", "run")
MODES = ("split", "interleave")


def parse_variant(text: str) -> dict[str, Any]:
    """One ``[NAME=]STRATEGY:WEIGHT`` argument as an API variant.

    ``STRATEGY`` is ``active``, ``popularity`` or ``run<ID>`` (a named model run), e.g.
    ``active:50``, ``baseline=popularity:50``, ``run12:50``.
    """
    name, _, rest = text.rpartition("=")
    strategy, sep, weight_text = rest.rpartition(":")
    try:
        weight = float(weight_text)
    except ValueError:
        weight = -1.0
    if not sep or weight < 0:
        raise ValueError(f"variant {text!r}: expected [NAME=]STRATEGY:WEIGHT, e.g. active:50")
    variant: dict[str, Any] = {"strategy": strategy, "weight": weight}
    if strategy.startswith("run") and strategy[3:].isdigit():
        variant = {"strategy": "run", "model_run": int(strategy[3:]), "weight": weight}
    elif strategy not in ("active", "popularity"):
        raise ValueError(
            f"variant {text!r}: strategy must be active, popularity or run<ID>, got {strategy!r}"
        )
    variant["name"] = name or strategy
    return variant


def experiment_spec(
    *, name: str, mode: str, variants: Sequence[str], salt: str | None = None
) -> dict[str, Any]:
    """The body of ``POST /api/experiments/``; repeated variant names get ``-2``, ``-3``…"""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    parsed = [parse_variant(text) for text in variants]
    if len(parsed) < 2:
        raise ValueError("an experiment needs at least two variants")
    seen: dict[str, int] = {}
    for variant in parsed:
        seen[variant["name"]] = seen.get(variant["name"], 0) + 1
        if seen[variant["name"]] > 1:
            variant["name"] = f"{variant['name']}-{seen[variant['name']]}"
    spec: dict[str, Any] = {"name": name, "mode": mode, "variants": parsed}
    if salt is not None:
        spec["salt"] = salt
    return spec


def predicted_assignment(experiment: dict[str, Any]) -> Callable[[int], str]:
    """Viewer id → variant name, as the server assigns (same engine function and salt).

    Only used to leave out viewers of one variant (an injected sample-ratio mismatch),
    which has to be decided before the viewer's request is served and logged.
    """
    salt = experiment.get("salt")
    if not salt:
        raise ValueError(f"experiment {experiment.get('id')} does not show its salt")
    names = [variant["name"] for variant in experiment["variants"]]
    weights = [float(variant["weight"]) for variant in experiment["variants"]]
    return lambda user_id: names[assign_variant(str(salt), user_id, weights)]


def _number(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def results_summary(results: dict[str, Any]) -> str:
    """A few readable lines of ``GET /api/experiments/<id>/results/``."""
    lines = [f"mode {results.get('mode')}"]
    for variant in results.get("variants", []):
        low, high = variant.get("ctr_ci") or (None, None)
        lines.append(
            f"  {variant['name']:<16} viewers {variant.get('users', 0):>6}  impressions "
            f"{variant.get('impressions', 0):>7}  clicks {variant.get('clicks', 0):>6}  CTR "
            f"{_number(variant.get('ctr'))} [{_number(low)}, {_number(high)}]"
        )
    low, high = results.get("lift_ci") or (None, None)
    lines.append(
        f"  lift {_number(results.get('lift'))} [{_number(low)}, {_number(high)}]  "
        f"p {_number(results.get('p_value'), 6)}  SRM p {_number(results.get('srm_p_value'), 6)}"
    )
    interleaving = results.get("interleaving")
    if interleaving:
        lines.append(f"  interleaving {interleaving}")
    return "\n".join(lines)
