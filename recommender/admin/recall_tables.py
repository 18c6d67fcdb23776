"""Admin lists of the recall tables a run publishes (large: estimated counts only)."""

from __future__ import annotations

from django.contrib import admin

from ingestion.admin import EstimatedCountPaginator

from ..models import ItemNeighbor, PopularItem


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
