"""Admin lists of the recall tables a run publishes (millions of rows: estimated counts,
orderings that follow the unique indexes, filters that never scan a table)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ingestion.admin import EstimatedCountPaginator

from ..models import ItemNeighbor, ModelRun, PopularItem


def published_sources(run_ids: list[int]) -> list[str]:
    """The distinct sources of these runs' neighbor lists, one index probe per source
    found (a "loose index scan" of ``(run, source, …)``; ``DISTINCT`` would read every
    row of millions)."""
    found: set[str] = set()
    for run_id in run_ids:
        rows = ItemNeighbor.objects.filter(run_id=run_id).order_by("source")
        source = rows.values_list("source", flat=True).first()
        while source is not None:
            found.add(source)
            source = rows.filter(source__gt=source).values_list("source", flat=True).first()
    return sorted(found)


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        run_id = request.GET.get("run__id__exact")
        runs = [int(run_id)] if run_id and run_id.isdigit() else _published_runs()
        return [(source, source) for source in published_sources(runs)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(source=self.value()) if self.value() else queryset


def _published_runs() -> list[int]:
    # Few runs keep their tables (VIDEOREC_KEEP_RECALL_TABLES): one probe per run.
    runs = ModelRun.objects.order_by("-id").values_list("id", flat=True)
    return [run for run in runs if ItemNeighbor.objects.filter(run_id=run).exists()]


@admin.register(ItemNeighbor)
class ItemNeighborAdmin(admin.ModelAdmin):
    list_display = ["run", "source", "movie", "rank", "neighbor", "score"]
    list_filter = [SourceFilter, "run"]
    list_select_related = ["run", "movie", "neighbor"]
    search_fields = ["movie__title", "=movie__id"]
    raw_id_fields = ["run", "movie", "neighbor"]
    # The unique index's own order: "run" alone would sort by the run's Meta ordering
    # (a join and a sort of every row).
    ordering = ["run_id", "source", "movie_id", "rank"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(PopularItem)
class PopularItemAdmin(admin.ModelAdmin):
    list_display = ["run", "rank", "movie", "score"]
    list_filter = ["run"]
    list_select_related = ["run", "movie"]
    raw_id_fields = ["run", "movie"]
    ordering = ["run_id", "rank"]
