"""A model run's documents (metrics, parameters, data snapshot) as admin tables.

The HTML is in the templates under ``admin/recommender/modelrun/``; this module only
orders the rows and formats the values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from ..models import ModelRun

#: Shown for an empty table or a missing value.
NOTHING = "–"


def metric_names(rows: Sequence[Mapping[str, float]]) -> list[str]:
    """The metrics present in ``rows``: headline metrics in their order, then the others."""
    present = {name for row in rows for name in row}
    ordered = [name for name in ModelRun.HEADLINE_METRICS if name in present]
    return ordered + sorted(present - set(ordered))


def metric_value(value: Any) -> str:
    """A metric or count as the admin shows it: four decimals, thousands separated."""
    if value is None:
        return NOTHING
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def setting_value(value: Any) -> str:
    """A setting as written: floats unrounded, containers as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys: ``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def metrics_table(metrics: Mapping[str, Any]) -> SafeString | str:
    """One row for the system and one per baseline of the same run, one column per metric."""
    rows = {"system": metrics.get("system", {}), **metrics.get("baselines", {})}
    names = metric_names(list(rows.values()))
    if not names:
        return NOTHING
    notes = []
    protocol = metrics.get("protocol")
    if isinstance(protocol, Mapping):
        notes.append(
            "hold-out: " + ", ".join(f"{k} {setting_value(v)}" for k, v in protocol.items())
        )
    elif protocol:
        notes.append(f"hold-out: {protocol}")
    if metrics.get("candidate_recall") is not None:
        notes.append(f"candidate recall: {metrics['candidate_recall']:.4f}")
    context = {
        "names": names,
        "rows": [
            {
                "label": label,
                "is_system": label == "system",
                "values": [metric_value(values.get(name)) for name in names],
            }
            for label, values in rows.items()
        ],
        "notes": " · ".join(notes),
    }
    return render_to_string("admin/recommender/modelrun/fields/metrics.html", context)


def key_value_table(value: Mapping[str, Any]) -> SafeString | str:
    """A nested mapping (parameters, data snapshot) as a two-column table."""
    flat = flatten(value)
    if not flat:
        return NOTHING
    rows = [(key, setting_value(item)) for key, item in flat.items()]
    return render_to_string("admin/recommender/modelrun/fields/key_values.html", {"rows": rows})


def comparison(runs: Sequence[ModelRun]) -> dict[str, Any]:
    """Template context comparing runs: metrics of the system and of each baseline, params.

    Parameter rows whose values differ between the runs are flagged.
    """
    sections = [("system", [run.metrics.get("system", {}) for run in runs])]
    baselines = sorted({name for run in runs for name in run.metrics.get("baselines", {})})
    sections += [
        (name, [run.metrics.get("baselines", {}).get(name, {}) for run in runs])
        for name in baselines
    ]
    metric_sections = [
        {
            "label": label,
            "rows": [
                {
                    "metric": metric,
                    "values": [metric_value(values.get(metric)) for values in per_run],
                }
                for metric in metric_names(per_run)
            ],
        }
        for label, per_run in sections
    ]
    return {
        "runs": runs,
        "metric_sections": metric_sections,
        "param_rows": _side_by_side([flatten(run.params) for run in runs]),
        "data_rows": _side_by_side([flatten(run.data_snapshot) for run in runs]),
    }


def _side_by_side(flats: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = sorted({key for flat in flats for key in flat})
    rows = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        rows.append(
            {
                "key": key,
                "values": [setting_value(value) for value in values],
                "differs": any(value != values[0] for value in values),
            }
        )
    return rows
