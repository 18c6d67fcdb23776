"""The recall-table inspector: the active model seen from a movie's and a viewer's page.

The movie and viewer pages belong to the ingestion app, which knows nothing about
models; the recommender extends them here so the dependency stays one-way.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from ingestion.admin import MovieAdmin, ViewerAdmin
from ingestion.models import Movie, Viewer
from ingestion.selectors import viewer_recent_ratings

from .. import registry
from .. import selectors as run_selectors
from ..services.serving import recommendations_for_viewers

#: How many neighbors per source, history rows and recommendations the inspectors show.
INSPECTOR_NEIGHBORS = 10
INSPECTOR_HISTORY = 20
INSPECTOR_RECOMMENDATIONS = 10
TEMPLATES = "admin/recommender/inspector"

admin.site.unregister(Movie)
admin.site.unregister(Viewer)


@admin.register(Movie)
class MovieInspectorAdmin(MovieAdmin):
    readonly_fields = [*MovieAdmin.readonly_fields, "recall_neighbors"]

    @admin.display(description="nearest neighbors (active model)")
    def recall_neighbors(self, movie: Movie) -> SafeString | str:
        run = registry.active_run()
        if run is None:
            return "No model is active yet."
        by_source = run_selectors.movie_neighbors(
            run=run, movie_id=movie.pk, topk=INSPECTOR_NEIGHBORS
        )
        if not by_source:
            return f"Run #{run.pk} has no neighbor list for this movie."
        sources = sorted(by_source)
        depth = max(len(neighbors) for neighbors in by_source.values())
        # One row per rank, one cell per source; a source with fewer neighbors leaves
        # its cell empty.
        rows = [
            (
                rank + 1,
                [by_source[s][rank] if rank < len(by_source[s]) else None for s in sources],
            )
            for rank in range(depth)
        ]
        context = {"run": run, "sources": sources, "rows": rows}
        return render_to_string(f"{TEMPLATES}/movie_neighbors.html", context)


@admin.register(Viewer)
class ViewerInspectorAdmin(ViewerAdmin):
    readonly_fields = ["recent_ratings", "current_recommendations"]

    @admin.display(description=f"latest ratings (up to {INSPECTOR_HISTORY})")
    def recent_ratings(self, viewer: Viewer) -> SafeString | str:
        ratings = viewer_recent_ratings(viewer_id=viewer.pk, limit=INSPECTOR_HISTORY)
        if not ratings:
            return "No ratings."
        return render_to_string(f"{TEMPLATES}/viewer_ratings.html", {"ratings": ratings})

    @admin.display(description="current recommendations")
    def current_recommendations(self, viewer: Viewer) -> SafeString:
        [result] = recommendations_for_viewers(
            viewer_ids=[viewer.pk], topk=INSPECTOR_RECOMMENDATIONS
        )
        return render_to_string(f"{TEMPLATES}/viewer_recommendations.html", {"result": result})
