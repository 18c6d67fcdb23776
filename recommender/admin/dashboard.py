"""The operator's dashboard: data, the serving model, metric trends, retrains, workers.

The view only assembles what selectors read into charts and a template; nothing here
writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from ingestion.overview import DataOverview, data_overview

from .. import registry
from .. import selectors as run_selectors
from ..models import ModelRun
from ..permissions import can_operate_model_runs
from . import charts
from .tables import metric_value

#: Seconds between reloads of a page that follows a run in progress.
REFRESH_SECONDS = 5
#: Runs drawn in the metric trend charts.
TREND_RUNS = 20


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The operator's overview: data, serving model, metric trends, retrains, workers."""
    overview = data_overview()
    runs = run_selectors.model_runs_evaluated(limit=TREND_RUNS)
    in_progress = run_selectors.model_runs_in_progress()
    now = timezone.now()
    active = registry.active_run()
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "overview": overview,
        "charts": _data_charts(overview) + _trend_charts(runs),
        "has_runs": bool(runs),
        "active": active,
        "active_metrics": (
            [(name, metric_value(active.headline(name))) for name in ModelRun.HEADLINE_METRICS]
            if active
            else []
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


def _data_charts(overview: DataOverview) -> list[SafeString]:
    if not overview.ratings_per_month:
        return []
    return [
        charts.bar_chart(
            title="Ratings per month",
            labels=[month.strftime("%Y-%m") for month, _ in overview.ratings_per_month],
            values=[n for _, n in overview.ratings_per_month],
            x_title="month",
            y_title="ratings",
        ),
        charts.bar_chart(
            title="Ratings by score",
            labels=[f"{score:g}" for score in overview.score_histogram],
            values=list(overview.score_histogram.values()),
            x_title="score",
            y_title="ratings",
        ),
    ]


def _trend_charts(runs: Sequence[ModelRun]) -> list[SafeString]:
    if not runs:
        return []
    return [
        _trend_chart(runs, "ndcg@10", "NDCG@10 of the latest runs"),
        _trend_chart(runs, "auc", "AUC of the latest runs"),
    ]


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
