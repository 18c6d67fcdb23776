"""The operator's view of experiments: define and follow them, browse events and
impressions. Start and stop are actions calling the services; the results page draws
each variant's CTR over time."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from recommender.admin.charts import line_chart

from .models import Event, Experiment, Impression, Variant
from .services.lifecycle import (
    ExperimentConflict,
    ExperimentInvalid,
    VariantSpec,
    experiment_start,
    experiment_stop,
    experiment_validate,
)
from .services.results import cumulative_ctr, experiment_results


class VariantFormSet(BaseInlineFormSet):
    """The variants, checked by the same rules as the API's."""

    def clean(self) -> None:
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        specs = [
            VariantSpec(
                name=data["name"],
                strategy=data["strategy"],
                weight=data["weight"],
                model_run=data["model_run"].id if data.get("model_run") else None,
            )
            for data in kept
        ]
        try:
            experiment_validate(mode=self.instance.mode, variants=specs)
        except ExperimentInvalid as exc:
            raise ValidationError(str(exc)) from exc


class VariantInline(admin.TabularInline):
    model = Variant
    formset = VariantFormSet
    extra = 2
    fields = ["position", "name", "strategy", "model_run", "weight"]

    def has_change_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        # A started experiment's variants are what its data mean: frozen.
        return obj is None or obj.status == Experiment.Status.DRAFT

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "mode", "status", "created_at", "started_at", "results_link"]
    list_filter = ["status", "mode"]
    search_fields = ["name"]
    readonly_fields = ["salt", "status", "created_at", "started_at", "stopped_at"]
    inlines = [VariantInline]
    actions = ["start", "stop"]

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        # Serving still assigns viewers to a running one: stop it first.
        running = obj is not None and obj.status == Experiment.Status.RUNNING
        return not running and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        fixed = ["mode"] if obj is not None and obj.status != Experiment.Status.DRAFT else []
        return [*self.readonly_fields, *fixed]

    @admin.display(description="Results")
    def results_link(self, experiment: Experiment) -> str:
        url = reverse("admin:experiments_experiment_results", args=[experiment.id])
        return format_html('<a href="{}">results</a>', url)

    def get_urls(self) -> list[URLPattern]:
        results = path(
            "<int:experiment_id>/results/",
            self.admin_site.admin_view(self.results_view),
            name="experiments_experiment_results",
        )
        return [results, *super().get_urls()]

    def results_view(self, request: HttpRequest, experiment_id: int) -> HttpResponse:
        experiment = get_object_or_404(Experiment, id=experiment_id)
        results = experiment_results(experiment_id=experiment.id)
        names = [variant["name"] for variant in results["variants"]]
        series = cumulative_ctr(results["timeline"], len(names))
        chart = line_chart(
            title="Cumulative CTR by variant",
            labels=[point["start"][:16].replace("T", " ") for point in results["timeline"]],
            series=dict(zip(names, series, strict=True)),
            x_title="Period (UTC)",
            y_title="CTR",
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Results of {experiment}",
            "experiment": experiment,
            "results": results,
            "chart": chart,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/experiments/results.html", context)

    @admin.action(description="Start the selected draft")
    def start(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        self._transition(request, queryset, experiment_start, "started")

    @admin.action(description="Stop the selected running experiment")
    def stop(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        self._transition(request, queryset, experiment_stop, "stopped")

    def _transition(self, request, queryset, service, verb) -> None:  # type: ignore[no-untyped-def]
        for experiment in queryset:
            try:
                service(experiment_id=experiment.id)
            except ExperimentConflict as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{experiment} {verb}.", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "user_id", "item_id", "timestamp", "request_id", "value"]
    list_filter = ["type"]
    search_fields = ["=user_id", "=item_id", "=event_id"]
    date_hierarchy = "timestamp"
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Impression)
class ImpressionAdmin(admin.ModelAdmin):
    list_display = ["id", "served_at", "viewer_id", "experiment", "variant", "model_run_id"]
    list_filter = ["experiment"]
    search_fields = ["=viewer_id", "=request_id"]
    list_select_related = ["experiment", "variant"]
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Impression | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
