"""Reads over the MovieLens data."""

from __future__ import annotations

from django.core.cache import cache

from .models import Genre, Movie, Rating, Viewer

COUNTS_CACHE_KEY = "ingestion:dataset-counts"
COUNTS_CACHE_SECONDS = 30


def dataset_counts() -> dict[str, int]:
    """Rows per table; cached briefly because counting a large ratings table is not free."""
    counts = cache.get(COUNTS_CACHE_KEY)
    if counts is None:
        counts = {
            "genres": Genre.objects.count(),
            "movies": Movie.objects.count(),
            "viewers": Viewer.objects.count(),
            "ratings": Rating.objects.count(),
        }
        cache.set(COUNTS_CACHE_KEY, counts, COUNTS_CACHE_SECONDS)
    return counts
