"""Admin for model runs and the recall tables they publish."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from ingestion.admin import EstimatedCountPaginator

from .models import ItemNeighbor, ModelRun, PopularItem

HEADLINE_METRICS = ("ndcg@10", "precision@10", "auc")


def _metric(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = [
        "id", "status", "stage", "is_active", "started_at", "duration", "rating_count",
        "ndcg_at_10", "precision_at_10", "auc",
    ]  # fmt: skip
    list_filter = ["status", "is_active"]
    readonly_fields = [
        "status", "stage", "is_active", "activated_at", "created_at", "started_at",
        "finished_at", "duration", "triggered_by", "task_id", "params", "data_snapshot",
        "metrics_table", "stage_seconds", "feature_importances", "artifact", "error",
    ]  # fmt: skip
    exclude = ["metrics"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

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

    @admin.display(description="metrics")
    def metrics_table(self, run: ModelRun) -> str:
        """The system against the baselines of the same run, one row each."""
        rows = {"system": run.metrics.get("system", {}), **run.metrics.get("baselines", {})}
        names = sorted({name for values in rows.values() for name in values})
        if not names:
            return "–"
        header = format_html_join("", "<th>{}</th>", ((name,) for name in names))
        body = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (
                    label,
                    format_html_join("", "<td>{}</td>", ((_metric(values.get(n)),) for n in names)),
                )
                for label, values in rows.items()
            ),
        )
        return format_html("<table><tr><th></th>{}</tr>{}</table>", header, body)


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
