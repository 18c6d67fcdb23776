"""Admin of model runs: read-only records, and what an operator does with them.

Retrain, roll back and compare go through admin actions and small views that call one
service each; the run's documents are rendered by :mod:`.tables` and its templates.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .. import selectors as run_selectors
from ..models import ModelRun
from ..permissions import can_operate_model_runs
from ..services.activation import model_run_rollback
from ..services.artifacts import model_runs_delete
from ..services.retrain import retrain_request
from ..services.runs import TrainingError
from . import charts, tables
from .dashboard import REFRESH_SECONDS

#: Feature importances drawn on a run's page (the rest are near zero).
MAX_IMPORTANCES = 30
#: Where the run page's fields are rendered.
FIELD_TEMPLATES = "admin/recommender/modelrun/fields"


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = [
        "id", "status", "stage", "is_active", "started_at", "duration", "rating_count",
        "ndcg_at_10", "precision_at_10", "auc", "triggered_by",
    ]  # fmt: skip
    list_filter = ["status", "is_active"]
    summary_fields = [
        "status", "stage", "is_active", "activated_at", "created_at", "started_at",
        "finished_at", "duration", "triggered_by", "task_id", "ranker_objective", "like_auc",
        "scaling",
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
        "feature_importance_chart", "params_table", "error_traceback", "ranker_objective",
        "like_auc", "scaling",
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

    # Through the service: it deletes the runs' artifact files too, once committed.
    def delete_model(self, request: HttpRequest, obj: ModelRun) -> None:
        model_runs_delete(runs=ModelRun.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelRun]) -> None:
        model_runs_delete(runs=queryset)

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
        return tables.NOTHING if run.seconds is None else f"{run.seconds:.1f}"

    @admin.display(description="ratings")
    def rating_count(self, run: ModelRun) -> str:
        count = run.data_snapshot.get("ratings")
        return tables.NOTHING if count is None else f"{count:,}"

    @admin.display(description="NDCG@10")
    def ndcg_at_10(self, run: ModelRun) -> str:
        return tables.metric_value(run.headline("ndcg@10"))

    @admin.display(description="P@10")
    def precision_at_10(self, run: ModelRun) -> str:
        return tables.metric_value(run.headline("precision@10"))

    @admin.display(description="AUC")
    def auc(self, run: ModelRun) -> str:
        return tables.metric_value(run.headline("auc"))

    # ------------------------------------------------------------------ detail fields
    @admin.display(description="ranker objective")
    def ranker_objective(self, run: ModelRun) -> str:
        """``VIDEOREC_RANKER_LABELS`` / ``VIDEOREC_RELEVANCE`` as the run recorded them."""
        pipeline = run.params.get("pipeline", {})
        return (
            f"labels: {pipeline.get('label_split', tables.NOTHING)}, "
            f"relevance: {pipeline.get('relevance', 'rated')}"
        )

    @admin.display(description="rating ≥ 4 AUC")
    def like_auc(self, run: ModelRun) -> str:
        """The seed's task on the run's held-out pairs, next to user mean + item mean."""
        like = run.metrics.get("like", {})
        return (
            f"{tables.metric_value(like.get('auc'))} (user mean + item mean "
            f"{tables.metric_value(like.get('baseline_auc'))}, "
            f"{tables.metric_value(like.get('pairs'))} held-out pairs)"
        )

    @admin.display(description="scaling")
    def scaling(self, run: ModelRun) -> str:
        """How training adapted to the data's size, as the run recorded it."""
        scale = run.params.get("scale", {})
        recall = scale.get("recall", {})
        parts = [
            f"{name}: {facts['items']:,} most-rated of {facts['catalogue']:,} movies"
            if facts.get("mode") == "most_rated_subset"
            else f"{name}: whole catalogue"
            for name, facts in recall.items()
        ]
        if "ranker_viewers" in scale:
            viewers = " + ".join(f"{count:,}" for count in scale["ranker_viewers"])
            parts.append(f"ranker folds: {viewers} viewers")
        if "evaluation_viewers" in scale:
            sample = scale["evaluation_viewers"]
            parts.append(f"evaluation: {sample['scored']:,} of {sample['evaluable']:,} viewers")
        return "; ".join(parts) or tables.NOTHING

    @admin.display(description="data snapshot")
    def data_snapshot_table(self, run: ModelRun) -> str:
        return tables.key_value_table(run.data_snapshot)

    @admin.display(description="recall tables")
    def recall_tables(self, run: ModelRun) -> str:
        if not run_selectors.recall_tables_published(run_id=run.pk):
            if run.status == ModelRun.Status.SUCCEEDED and run.artifact:
                return "pruned; activating the run republishes them from its artifact"
            if run.status == ModelRun.Status.SUCCEEDED:
                return "pruned with its artifact (retention); it cannot serve again"
            return "not published"
        return render_to_string(f"{FIELD_TEMPLATES}/recall_tables.html", {"run": run})

    @admin.display(description="metrics")
    def metrics_table(self, run: ModelRun) -> str:
        """The system against the baselines of the same run, one row each."""
        return tables.metrics_table(run.metrics)

    @admin.display(description="seconds per stage")
    def stage_timings(self, run: ModelRun) -> str:
        stages = [(label, run.stage_seconds.get(value)) for value, label in ModelRun.Stage.choices]
        rows = [(label, seconds) for label, seconds in stages if seconds is not None]
        if not rows:
            return tables.NOTHING
        context = {"rows": rows, "total": sum(run.stage_seconds.values())}
        return render_to_string(f"{FIELD_TEMPLATES}/stage_timings.html", context)

    @admin.display(description="feature importances")
    def feature_importance_chart(self, run: ModelRun) -> str:
        gains = sorted(run.feature_importances.items(), key=lambda item: -item[1])
        total = sum(value for _, value in gains)
        if not total:
            return tables.NOTHING
        top = gains[:MAX_IMPORTANCES]
        chart = charts.horizontal_bar_chart(
            title=f"Ranker feature importances (top {len(top)} of {len(gains)})",
            labels=[name for name, _ in top],
            values=[round(100 * value / total, 2) for _, value in top],
            x_title="share of total gain (%)",
        )
        return render_to_string(f"{FIELD_TEMPLATES}/feature_importances.html", {"chart": chart})

    @admin.display(description="parameters")
    def params_table(self, run: ModelRun) -> str:
        return tables.key_value_table(run.params)

    @admin.display(description="error")
    def error_traceback(self, run: ModelRun) -> str:
        return render_to_string(f"{FIELD_TEMPLATES}/error.html", {"run": run})

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
            **tables.comparison(runs),
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
            "refresh_seconds": REFRESH_SECONDS,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)
