"""Admin for the MovieLens data: browse, search and filter without slow pages."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models import Aggregate, Avg, Count, FloatField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from .models import DatasetImport, Genre, Movie, Rating, Tag, Viewer
from .selectors import row_count
from .services import movies_delete, ratings_delete, viewer_histories_changed


class EstimatedCountPaginator(Paginator):
    """Uses PostgreSQL's planner estimate instead of ``COUNT(*)`` above
    ``EXACT_COUNT_UP_TO`` rows, filtered or not.

    An exact count of tens of millions of ratings takes seconds on PostgreSQL; the page
    links only need the order of magnitude. Smaller lists and other databases count.
    """

    @cached_property
    def count(self) -> int:
        return row_count(self.object_list)


def _ratings_per_row(field: str, aggregate: Aggregate) -> Coalesce:
    """``aggregate`` over the ratings of each row shown (a correlated subquery: the
    database computes it for the page's rows only, over an index, never for the table)."""
    ratings = Rating.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
    subquery = Subquery(ratings.annotate(value=aggregate).values("value"))
    return Coalesce(subquery, Value(0), output_field=aggregate.output_field)


def _changelist_link(model: str, query: str, label: object) -> str:
    url = reverse(f"admin:ingestion_{model}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ["name", "movie_count"]
    search_fields = ["name"]
    # Aggregating querysets drop Meta.ordering, so it is repeated here.
    ordering = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Genre]:
        return super().get_queryset(request).annotate(movie_count=Count("movies"))

    @admin.display(description="movies", ordering="movie_count")
    def movie_count(self, genre: Genre) -> str:
        return _changelist_link("movie", f"genres__id__exact={genre.pk}", genre.movie_count)


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "year", "genre_names", "rating_count", "mean_score"]
    list_display_links = ["id", "title"]
    list_filter = ["genres", "year"]
    search_fields = ["title", "=id"]
    filter_horizontal = ["genres"]
    list_per_page = 50
    ordering = ["id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["pages", "top_tags"]
    #: A movie of ml-25m can carry thousands of tags: its page shows the most used ones.
    top_tag_count = 30

    def get_queryset(self, request: HttpRequest) -> QuerySet[Movie]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("genres")
            .annotate(
                rating_count=_ratings_per_row("movie", Count("*")),
                mean_score=_ratings_per_row("movie", Avg("score", output_field=FloatField())),
            )
        )

    def delete_model(self, request: HttpRequest, obj: Movie) -> None:
        movies_delete(movies=Movie.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        movies_delete(movies=queryset)

    @admin.display(description="IMDb / TMDb")
    def pages(self, movie: Movie) -> str:
        links = [
            (url, label)
            for url, label in ((movie.imdb_page, "IMDb"), (movie.tmdb_page, "TMDb"))
            if url
        ]
        return format_html_join(" · ", '<a href="{}" rel="noopener">{}</a>', links) or "–"

    @admin.display(description="tags (most used)")
    def top_tags(self, movie: Movie) -> str:
        counts = (
            Tag.objects.filter(movie=movie)
            .values("text")
            .annotate(n=Count("id"))
            .order_by("-n", "text")[: self.top_tag_count]
        )
        rows = [(row["text"], row["n"]) for row in counts]
        return format_html_join(", ", "{} ({})", rows) or "–"

    @admin.display(description="genres")
    def genre_names(self, movie: Movie) -> str:
        return ", ".join(genre.name for genre in movie.genres.all())

    # Not sortable: ordering by them would aggregate every rating on each page view.
    @admin.display(description="ratings")
    def rating_count(self, movie: Movie) -> str:
        return _changelist_link("rating", f"movie__id__exact={movie.pk}", movie.rating_count)

    @admin.display(description="mean score")
    def mean_score(self, movie: Movie) -> str:
        return "–" if not movie.rating_count else f"{movie.mean_score:.2f}"


@admin.register(Viewer)
class ViewerAdmin(admin.ModelAdmin):
    list_display = ["id", "age", "gender", "occupation", "zip_code", "rating_count"]
    list_filter = ["gender", "occupation"]
    search_fields = ["=id", "zip_code"]
    list_per_page = 50
    ordering = ["id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Viewer]:
        return (
            super()
            .get_queryset(request)
            .annotate(rating_count=_ratings_per_row("viewer", Count("*")))
        )

    # Not sortable: ordering by it would aggregate every rating on each page view.
    @admin.display(description="ratings")
    def rating_count(self, viewer: Viewer) -> str:
        return _changelist_link("rating", f"viewer__id__exact={viewer.pk}", viewer.rating_count)


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "viewer", "movie", "score", "rated_at"]
    list_filter = ["score", "viewer__gender", "viewer__occupation"]
    list_select_related = ["viewer", "movie"]
    search_fields = ["movie__title", "=viewer__id", "=movie__id"]
    autocomplete_fields = ["viewer", "movie"]
    ordering = ["-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_readonly_fields(self, request: HttpRequest, obj: Rating | None = None):  # type: ignore[no-untyped-def]
        # A rating is one viewer's score of one movie: moving it is a delete and an add.
        return ["viewer", "movie"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Rating, form: object, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            viewer_histories_changed(viewer_ids=[obj.viewer_id])

    def delete_model(self, request: HttpRequest, obj: Rating) -> None:
        ratings_delete(ratings=Rating.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rating]) -> None:
        ratings_delete(ratings=queryset)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["id", "movie", "viewer", "text", "tagged_at"]
    list_select_related = ["movie", "viewer"]
    search_fields = ["text", "=movie__id", "=viewer__id"]
    autocomplete_fields = ["viewer", "movie"]
    ordering = ["-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


@admin.register(DatasetImport)
class DatasetImportAdmin(admin.ModelAdmin):
    list_display = [
        "id", "started_at", "source", "status", "ratings_read", "ratings_created",
        "ratings_updated", "duration",
    ]  # fmt: skip
    list_filter = ["status", "source"]
    search_fields = ["location", "checksum", "error_message"]
    readonly_fields = [field.name for field in DatasetImport._meta.fields] + ["duration"]

    @admin.display(description="seconds")
    def duration(self, record: DatasetImport) -> str:
        return "–" if record.seconds is None else f"{record.seconds:.1f}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
