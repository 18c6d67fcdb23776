"""Admin for model runs and the recall tables they publish: the operator's cockpit.

Model runs are read-only records; what an operator does with them (retrain, roll back,
compare) goes through admin actions and small views that call one service each. The
dashboard lives in :mod:`recommender.admin_views`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ingestion.admin import EstimatedCountPaginator, MovieAdmin, ViewerAdmin
from ingestion.models import Movie, Viewer
from ingestion.selectors import viewer_recent_ratings

from . import admin_views, charts
from . import selectors as run_selectors
from .models import ItemNeighbor, ModelRun, PopularItem
from .permissions import can_operate_model_runs
from .services.serving import recommendations_for_viewers
from .services.training import TrainingError, model_run_rollback, retrain_request

#: Feature importances drawn on a run's page (the rest are near zero).
MAX_IMPORTANCES = 30
#: How many neighbors per source, history rows and recommendations the inspectors show.
INSPECTOR_NEIGHBORS = 10
INSPECTOR_HISTORY = 20
INSPECTOR_RECOMMENDATIONS = 10

admin.site.index_template = "admin/videorec/index.html"


def _metric(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = [
        "id", "status", "stage", "is_active", "started_at", "duration", "rating_count",
        "ndcg_at_10", "precision_at_10", "auc", "triggered_by",
    ]  # fmt: skip
    list_filter = ["status", "is_active"]
    summary_fields = [
        "status", "stage", "is_active", "activated_at", "created_at", "started_at",
        "finished_at", "duration", "triggered_by", "task_id",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": summary_fields}),
        ("Data", {"fields": ["data_snapshot_table", "artifact", "recall_tables"]}),
        ("Offline evaluation", {"fields": ["metrics_table"]}),
        ("Stages", {"fields": ["stage_timings"]}),
        ("Ranker", {"fields": ["feature_importance_chart"]}),
        ("Parameters", {"fields": ["params_table"], "classes": ["collapse"]}),
        ("Failure", {"fields": ["error_traceback"]}),
    ]
    readonly_fields = [
        "status", "stage", "is_active", "activated_at", "created_at", "started_at",
        "finished_at", "duration", "triggered_by", "task_id", "data_snapshot_table",
        "artifact", "recall_tables", "metrics_table", "stage_timings",
        "feature_importance_chart", "params_table", "error_traceback",
    ]  # fmt: skip
    actions = ["activate_run", "compare_runs"]

    # Runs are records of what happened: nobody adds or edits them by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModelRun | None = None) -> bool:
        # The serving run and runs a worker is writing to are not deleted from under them.
        if obj is not None and (obj.is_active or obj.status in ModelRun.IN_FLIGHT):
            return False
        return super().has_delete_permission(request, obj)

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """Retraining and switching the serving model: for users who may change runs."""
        return can_operate_model_runs(request.user)

    def get_fieldsets(self, request: HttpRequest, obj: ModelRun | None = None):  # type: ignore[no-untyped-def]
        if obj is not None and not obj.error:
            return [fs for fs in self.fieldsets if fs[0] != "Failure"]
        return self.fieldsets

    # ------------------------------------------------------------------ list columns
    @admin.display(description="seconds")
    def duration(self, run: ModelRun) -> str:
        return "–" if run.seconds is None else f"{run.seconds:.1f}"

    @admin.display(description="ratings")
    def rating_count(self, run: ModelRun) -> str:
        count = run.data_snapshot.get("ratings")
        return "–" if count is None else f"{count:,}"

    @admin.display(description="NDCG@10")
    def ndcg_at_10(self, run: ModelRun) -> str:
        return _metric(run.headline("ndcg@10"))

    @admin.display(description="P@10")
    def precision_at_10(self, run: ModelRun) -> str:
        return _metric(run.headline("precision@10"))

    @admin.display(description="AUC")
    def auc(self, run: ModelRun) -> str:
        return _metric(run.headline("auc"))

    # ------------------------------------------------------------------ detail fields
    @admin.display(description="data snapshot")
    def data_snapshot_table(self, run: ModelRun) -> str:
        return admin_views.key_value_table(run.data_snapshot)

    @admin.display(description="recall tables")
    def recall_tables(self, run: ModelRun) -> str:
        if not PopularItem.objects.filter(run=run).exists():
            if run.status == ModelRun.Status.SUCCEEDED:
                return "pruned; activating the run republishes them from its artifact"
            return "not published"
        url = reverse("admin:recommender_itemneighbor_changelist")
        return format_html('<a href="{}?run__id__exact={}">neighbor lists</a>', url, run.pk)

    @admin.display(description="metrics")
    def metrics_table(self, run: ModelRun) -> str:
        """The system against the baselines of the same run, one row each."""
        return admin_views.metrics_table(run.metrics)

    @admin.display(description="seconds per stage")
    def stage_timings(self, run: ModelRun) -> str:
        stages = [(label, run.stage_seconds.get(value)) for value, label in ModelRun.Stage.choices]
        rows = [(label, f"{seconds:.1f}") for label, seconds in stages if seconds is not None]
        if not rows:
            return "–"
        total = sum(run.stage_seconds.values())
        return format_html(
            '<table class="videorec-table"><tbody>{}<tr><th>total</th><td>{}</td></tr>'
            "</tbody></table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
            f"{total:.1f}",
        )

    @admin.display(description="feature importances")
    def feature_importance_chart(self, run: ModelRun) -> str:
        gains = sorted(run.feature_importances.items(), key=lambda item: -item[1])
        total = sum(value for _, value in gains)
        if not total:
            return "–"
        top = gains[:MAX_IMPORTANCES]
        chart = charts.horizontal_bar_chart(
            title=f"Ranker feature importances (top {len(top)} of {len(gains)})",
            labels=[name for name, _ in top],
            values=[round(100 * value / total, 2) for _, value in top],
            x_title="share of total gain (%)",
        )
        return format_html('<div class="videorec-chart">{}</div>', chart)

    @admin.display(description="parameters")
    def params_table(self, run: ModelRun) -> str:
        return admin_views.key_value_table(run.params)

    @admin.display(description="error")
    def error_traceback(self, run: ModelRun) -> str:
        return format_html('<pre class="videorec-traceback">{}</pre>', run.error)

    # ----------------------------------------------------------------------- actions
    @admin.action(description="Activate this run (roll back to it)", permissions=["operate"])
    def activate_run(self, request: HttpRequest, queryset: QuerySet[ModelRun]) -> None:
        runs = list(queryset[:2])
        if len(runs) != 1:
            self.message_user(request, "Select exactly one run to activate.", messages.WARNING)
            return
        self._activate(request, runs[0].pk)

    @admin.action(description="Compare the selected runs")
    def compare_runs(
        self, request: HttpRequest, queryset: QuerySet[ModelRun]
    ) -> HttpResponse | None:
        ids = sorted(queryset.values_list("id", flat=True))
        if len(ids) < 2:
            self.message_user(request, "Select at least two runs to compare.", messages.WARNING)
            return None
        url = reverse("admin:recommender_modelrun_compare")
        return HttpResponseRedirect(f"{url}?ids={','.join(map(str, ids))}")

    def _activate(self, request: HttpRequest, run_id: int) -> None:
        try:
            model_run_rollback(run_id=run_id)
        except TrainingError as exc:
            self.message_user(request, f"Not activated: {exc}.", messages.ERROR)
            return
        self.message_user(request, f"Run #{run_id} is now the active model and serves.")

    # ------------------------------------------------------------------------- views
    def get_urls(self):  # type: ignore[no-untyped-def]
        wrap = self.admin_site.admin_view
        return [
            path("retrain/", wrap(self.retrain_view), name="recommender_modelrun_retrain"),
            path("compare/", wrap(self.compare_view), name="recommender_modelrun_compare"),
            path(
                "<int:run_id>/activate/",
                wrap(self.activate_view),
                name="recommender_modelrun_activate",
            ),
            *super().get_urls(),
        ]

    def _require_operate(self, request: HttpRequest) -> None:
        if not self.has_operate_permission(request):
            raise PermissionDenied

    @staticmethod
    def _run_url(run_id: int) -> str:
        return reverse("admin:recommender_modelrun_change", args=[run_id])

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        """Retrain now: enqueue a retrain (or run it here when there is no broker)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._require_operate(request)
        try:
            outcome = retrain_request(triggered_by=f"admin: {request.user}")
        except TrainingError as exc:
            latest = ModelRun.objects.order_by("-id").first()
            self.message_user(request, f"Retrain failed: {exc}", messages.ERROR)
            url = self._run_url(latest.pk) if latest else reverse("admin-dashboard")
            return HttpResponseRedirect(url)
        run = outcome.run
        if not outcome.created:
            self.message_user(
                request,
                f"Run #{run.pk} is already {run.get_status_display().lower()}: one retrain "
                "at a time. This page follows its stage.",
                messages.WARNING,
            )
        elif run.status == ModelRun.Status.FAILED:  # trained in this process, and failed
            reason = run.error.strip().splitlines()[-1] if run.error.strip() else "unknown error"
            self.message_user(request, f"Retrain failed: {reason}", messages.ERROR)
        elif run_selectors.tasks_run_in_process():
            active = "is now the active model" if run.is_active else "was not activated"
            self.message_user(
                request,
                f"Run #{run.pk} trained in this process, within the request, because no "
                f"Celery broker is configured: {run.get_status_display().lower()}, {active}.",
            )
        else:
            self.message_user(
                request,
                f"Run #{run.pk} was queued for a Celery worker (task {run.task_id}). "
                "This page follows its stage.",
            )
        return HttpResponseRedirect(self._run_url(run.pk))

    def activate_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        """Activate this run: the rollback button of a run's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._require_operate(request)
        get_object_or_404(ModelRun, pk=run_id)
        self._activate(request, run_id)
        return HttpResponseRedirect(self._run_url(run_id))

    def compare_view(self, request: HttpRequest) -> HttpResponse:
        """Metrics and parameters of two or more runs side by side (``?ids=3,5``)."""
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.isdigit()]
        runs = run_selectors.model_runs_by_ids(ids=ids)
        if len(runs) < 2:
            self.message_user(request, "Select at least two runs to compare.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:recommender_modelrun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Compare model runs " + ", ".join(f"#{run.pk}" for run in runs),
            **admin_views.comparison(runs),
        }
        return TemplateResponse(request, "admin/recommender/modelrun/compare.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # type: ignore[no-untyped-def]
        extra = {"can_operate": self.has_operate_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def change_view(  # type: ignore[no-untyped-def]
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        run = self.get_object(request, object_id)
        extra = {
            "can_operate": self.has_operate_permission(request),
            "can_activate": run is not None
            and run.status == ModelRun.Status.SUCCEEDED
            and not run.is_active,
            "in_progress": run is not None and run.status in ModelRun.IN_FLIGHT,
            "refresh_seconds": admin_views.REFRESH_SECONDS,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)


@admin.register(ItemNeighbor)
class ItemNeighborAdmin(admin.ModelAdmin):
    list_display = ["run", "source", "movie", "rank", "neighbor", "score"]
    list_filter = ["source", "run"]
    list_select_related = ["run", "movie", "neighbor"]
    search_fields = ["movie__title", "=movie__id"]
    raw_id_fields = ["run", "movie", "neighbor"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(PopularItem)
class PopularItemAdmin(admin.ModelAdmin):
    list_display = ["run", "rank", "movie", "score"]
    list_filter = ["run"]
    list_select_related = ["run", "movie"]
    raw_id_fields = ["run", "movie"]


# ---------------------------------------------------------------- recall-table inspector
# The movie and viewer pages belong to the ingestion app, which knows nothing about
# models; the recommender extends them here so the dependency stays one-way.
admin.site.unregister(Movie)
admin.site.unregister(Viewer)


def _movie_link(movie_id: int, title: str) -> str:
    url = reverse("admin:ingestion_movie_change", args=[movie_id])
    return format_html('<a href="{}">{}</a>', url, title)


@admin.register(Movie)
class MovieInspectorAdmin(MovieAdmin):
    readonly_fields = ["recall_neighbors"]

    @admin.display(description="nearest neighbors (active model)")
    def recall_neighbors(self, movie: Movie) -> str:
        run = run_selectors.active_run()
        if run is None:
            return "No model is active yet."
        by_source = run_selectors.movie_neighbors(
            run=run, movie_id=movie.pk, topk=INSPECTOR_NEIGHBORS
        )
        if not by_source:
            return f"Run #{run.pk} has no neighbor list for this movie."
        columns = sorted(by_source)
        rows = []
        for rank in range(max(len(entries) for entries in by_source.values())):
            cells = []
            for source in columns:
                entries = by_source[source]
                if rank < len(entries):
                    movie_ = entries[rank]
                    link = _movie_link(movie_.item_id, movie_.title)
                    cells.append(format_html("{} <small>{}</small>", link, f"{movie_.score:.3f}"))
                else:
                    cells.append("")
            rows.append((rank + 1, format_html_join("", "<td>{}</td>", ((c,) for c in cells))))
        body = format_html_join("", "<tr><th>{}</th>{}</tr>", rows)
        return format_html(
            '<p>Run #{} · neighbor and score per recall source</p><table class="videorec-table">'
            "<thead><tr><th>rank</th>{}</tr></thead><tbody>{}</tbody></table>",
            run.pk,
            format_html_join("", "<th>{}</th>", ((source,) for source in columns)),
            body,
        )


@admin.register(Viewer)
class ViewerInspectorAdmin(ViewerAdmin):
    readonly_fields = ["recent_ratings", "current_recommendations"]

    @admin.display(description=f"latest ratings (up to {INSPECTOR_HISTORY})")
    def recent_ratings(self, viewer: Viewer) -> str:
        ratings = viewer_recent_ratings(viewer_id=viewer.pk, limit=INSPECTOR_HISTORY)
        if not ratings:
            return "No ratings."
        return format_html(
            '<table class="videorec-table"><thead><tr><th>rated</th><th>movie</th>'
            "<th>score</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        rating.rated_at.strftime("%Y-%m-%d %H:%M"),
                        _movie_link(rating.movie_id, rating.movie.title),
                        rating.score,
                    )
                    for rating in ratings
                ),
            ),
        )

    @admin.display(description="current recommendations")
    def current_recommendations(self, viewer: Viewer) -> str:
        [result] = recommendations_for_viewers(
            viewer_ids=[viewer.pk], topk=INSPECTOR_RECOMMENDATIONS
        )
        source = (
            f"model run #{result.model_run}"
            if result.model_run
            else "no active model: most-rated movies"
        )
        return format_html(
            '<p>From {}{}</p><table class="videorec-table"><thead><tr><th>#</th><th>movie</th>'
            "<th>score</th><th>source</th><th>why</th></tr></thead><tbody>{}</tbody></table>",
            source,
            " (cold start)" if result.cold_start else "",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        rank,
                        _movie_link(item.item_id, item.title),
                        f"{item.score:.3f}",
                        ", ".join(reason.source for reason in item.reasons),
                        "; ".join(reason.text for reason in item.reasons),
                    )
                    for rank, item in enumerate(result.recommendations, start=1)
                ),
            ),
        )
