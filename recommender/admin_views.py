"""Admin pages beyond the model lists: the dashboard, run comparison, and their tables.

Views only assemble what selectors read into tables and charts; nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ingestion.selectors import data_overview

from . import charts
from . import selectors as run_selectors
from .models import ModelRun
from .permissions import can_operate_model_runs

#: Seconds between reloads of a page that follows a run in progress.
REFRESH_SECONDS = 5
#: Runs drawn in the metric trend charts.
TREND_RUNS = 20
#: Metrics in the order operators read them; any others follow alphabetically.
METRIC_ORDER = (
    "ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "auc", "coverage",
)  # fmt: skip


def _metric_names(rows: Sequence[Mapping[str, float]]) -> list[str]:
    present = {name for row in rows for name in row}
    ordered = [name for name in METRIC_ORDER if name in present]
    return ordered + sorted(present - set(ordered))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _plain(value: Any) -> str:
    """A setting as written: floats unrounded, containers as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def metrics_table(metrics: Mapping[str, Any]) -> SafeString | str:
    """One row for the system and one per baseline of the same run, one column per metric."""
    rows = {"system": metrics.get("system", {}), **metrics.get("baselines", {})}
    names = _metric_names(list(rows.values()))
    if not names:
        return "–"
    notes = []
    protocol = metrics.get("protocol")
    if isinstance(protocol, Mapping):
        notes.append("hold-out: " + ", ".join(f"{k} {_plain(v)}" for k, v in protocol.items()))
    elif protocol:
        notes.append(f"hold-out: {protocol}")
    if metrics.get("candidate_recall") is not None:
        notes.append(f"candidate recall: {metrics['candidate_recall']:.4f}")
    return format_html(
        '<table class="videorec-table"><thead><tr><th></th>{}</tr></thead><tbody>{}</tbody>'
        "</table><p>{}</p>",
        format_html_join("", "<th>{}</th>", ((name,) for name in names)),
        format_html_join(
            "",
            '<tr class="{}"><th>{}</th>{}</tr>',
            (
                (
                    "videorec-system" if label == "system" else "",
                    label,
                    format_html_join("", "<td>{}</td>", ((_fmt(values.get(n)),) for n in names)),
                )
                for label, values in rows.items()
            ),
        ),
        " · ".join(notes),
    )


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


def key_value_table(value: Mapping[str, Any]) -> SafeString | str:
    """A nested mapping (parameters, data snapshot) as a two-column table."""
    flat = flatten(value)
    if not flat:
        return "–"
    return format_html(
        '<table class="videorec-table"><tbody>{}</tbody></table>',
        format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((k, _plain(v)) for k, v in flat.items())
        ),
    )


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
                {"metric": metric, "values": [_fmt(values.get(metric)) for values in per_run]}
                for metric in _metric_names(per_run)
            ],
        }
        for label, per_run in sections
    ]
    params = [flatten(run.params) for run in runs]
    data = [flatten(run.data_snapshot) for run in runs]
    return {
        "runs": runs,
        "metric_sections": metric_sections,
        "param_rows": _side_by_side(params),
        "data_rows": _side_by_side(data),
    }


def _side_by_side(flats: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = sorted({key for flat in flats for key in flat})
    rows = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        rows.append(
            {
                "key": key,
                "values": [_plain(value) for value in values],
                "differs": any(value != values[0] for value in values),
            }
        )
    return rows


# --------------------------------------------------------------------------- dashboard
def _trend_chart(runs: Sequence[ModelRun], metric: str, title: str) -> SafeString:
    labels = [f"#{run.pk}" for run in runs]
    baselines = sorted({name for run in runs for name in run.metrics.get("baselines", {})})
    series = {"system": [run.headline(metric) for run in runs]}
    for name in baselines:
        values = [run.metrics.get("baselines", {}).get(name, {}).get(metric) for run in runs]
        if any(value is not None for value in values):
            series[name] = values
    return charts.line_chart(
        title=title, labels=labels, series=series, x_title="model run", y_title=metric
    )


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The operator's overview: data, serving model, metric trends, retrains, workers."""
    overview = data_overview()
    runs = run_selectors.model_runs_evaluated(limit=TREND_RUNS)
    in_progress = run_selectors.model_runs_in_progress()
    now = timezone.now()
    chart_list = []
    if overview.ratings_per_month:
        chart_list.append(
            charts.bar_chart(
                title="Ratings per month",
                labels=[month.strftime("%Y-%m") for month, _ in overview.ratings_per_month],
                values=[n for _, n in overview.ratings_per_month],
                x_title="month",
                y_title="ratings",
            )
        )
        chart_list.append(
            charts.bar_chart(
                title="Ratings by score",
                labels=[str(score) for score in overview.score_histogram],
                values=list(overview.score_histogram.values()),
                x_title="score",
                y_title="ratings",
            )
        )
    if runs:
        chart_list.append(_trend_chart(runs, "ndcg@10", "NDCG@10 of the latest runs"))
        chart_list.append(_trend_chart(runs, "auc", "AUC of the latest runs"))
    active = run_selectors.active_run()
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "overview": overview,
        "charts": chart_list,
        "has_runs": bool(runs),
        "active": active,
        "active_metrics": (
            [(name, _fmt(active.headline(name))) for name in METRIC_ORDER] if active else []
        ),
        "in_progress": [
            {
                "run": run,
                "elapsed": (now - run.started_at).total_seconds() if run.started_at else None,
            }
            for run in in_progress
        ],
        "refresh_seconds": REFRESH_SECONDS if in_progress else None,
        "workers": run_selectors.celery_workers(),
        "can_operate": can_operate_model_runs(request.user),
    }
    return TemplateResponse(request, "admin/videorec/dashboard.html", context)
