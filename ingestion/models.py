"""The catalogue, the viewers and their ratings, in MovieLens terms.

``Movie`` and ``Viewer`` keep the MovieLens ids as primary keys so the ids a client sees in
the API are the data set's own ids.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

MIN_SCORE = 0.5
MAX_SCORE = 5.0
#: Every score a rating may have: stars in half-star steps (ml-100k and ml-1m use only the
#: whole ones). A float holds each of them exactly.
SCORES = tuple(step / 2 for step in range(1, 11))


class Genre(models.Model):
    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Movie(models.Model):
    id = models.PositiveIntegerField(primary_key=True, verbose_name="MovieLens id")
    title = models.CharField(max_length=255)
    year = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    release_date = models.DateField(null=True, blank=True)
    video_release_date = models.DateField(null=True, blank=True)
    imdb_url = models.URLField("IMDb URL", max_length=255, blank=True)
    # links.csv of the later releases: the pages are built from these ids.
    imdb_id = models.PositiveIntegerField("IMDb id", null=True, blank=True)
    tmdb_id = models.PositiveIntegerField("TMDb id", null=True, blank=True)
    genres = models.ManyToManyField(Genre, related_name="movies", blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title

    @property
    def imdb_page(self) -> str:
        """The IMDb page: ml-100k's own URL, or the one of the release's IMDb id."""
        if self.imdb_url or self.imdb_id is None:
            return self.imdb_url
        return f"https://www.imdb.com/title/tt{self.imdb_id:07d}/"

    @property
    def tmdb_page(self) -> str:
        return "" if self.tmdb_id is None else f"https://www.themoviedb.org/movie/{self.tmdb_id}"


class CatalogueVersion(models.Model):
    """One row: a counter that every removal of movies from the catalogue increments.

    Part of the key of cached recommendations, as ``Viewer.history_version`` is: an answer
    cached before a movie was deleted is never served after, in any process. No row reads
    as version 0.
    """

    version = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"Catalogue version {self.version}"


class Viewer(models.Model):
    class Gender(models.TextChoices):
        MALE = "M", "Male"
        FEMALE = "F", "Female"

    id = models.PositiveIntegerField(primary_key=True, verbose_name="MovieLens user id")
    # Blank demographics: viewers created through the API arrive without them, and so do
    # the viewers of every release after ml-1m (bulk-inserted with their id alone).
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    gender = models.CharField(max_length=1, choices=Gender.choices, blank=True, db_default="")
    occupation = models.CharField(max_length=64, blank=True, db_index=True, db_default="")
    zip_code = models.CharField(max_length=16, blank=True, db_default="")
    # Part of the key of cached recommendations: a changed history must never be
    # answered from the cache, in any process, without reading the history itself.
    history_version = models.PositiveBigIntegerField(
        db_default=0,  # bulk loads insert viewers without this column
        editable=False,
        help_text="Incremented by every change to this viewer's ratings.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Viewer {self.id}"


class Rating(models.Model):
    # The composite indexes below cover both foreign keys, so no single-column ones.
    viewer = models.ForeignKey(
        Viewer, on_delete=models.CASCADE, related_name="ratings", db_index=False
    )
    movie = models.ForeignKey(
        Movie, on_delete=models.CASCADE, related_name="ratings", db_index=False
    )
    score = models.FloatField(
        choices=[(value, f"{value:g}") for value in SCORES],
        validators=[MinValueValidator(MIN_SCORE), MaxValueValidator(MAX_SCORE)],
        help_text="Stars, 0.5–5.0 in half-star steps.",
    )
    rated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["viewer", "movie"], name="rating_one_per_viewer_movie"),
            models.CheckConstraint(
                condition=Q(score__in=SCORES), name="rating_score_half_stars_0_5_to_5"
            ),
        ]
        indexes = [
            models.Index(fields=["viewer", "rated_at"], name="rating_viewer_history"),
            # With the score: a movie's count and mean (the admin's movie list, the
            # overview) come from the index alone, not from a heap page per rating.
            models.Index(
                fields=["movie", "rated_at"], include=["score"], name="rating_movie_ratings"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_id} → {self.movie_id}: {self.score:g}"


class Tag(models.Model):
    """A viewer's free-text tag of a movie (``tags.csv`` / ``tags.dat`` of the releases)."""

    viewer = models.ForeignKey(Viewer, on_delete=models.CASCADE, related_name="tags")
    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="tags", db_index=False)
    text = models.CharField(max_length=255)
    tagged_at = models.DateTimeField()

    class Meta:
        ordering = ["movie", "tagged_at"]
        constraints = [
            # Also the index of a movie's tags (its first column).
            models.UniqueConstraint(fields=["movie", "viewer", "text"], name="tag_once_per_viewer")
        ]

    def __str__(self) -> str:
        return self.text


class DatasetImport(models.Model):
    """One attempt of ``loadml100k`` or ``loadmovielens``, kept whether it succeeded or not."""

    class Source(models.TextChoices):
        AUTO = "auto", "Automatic (not resolved)"
        PATH = "path", "GroupLens folder"
        ZIP = "zip", "GroupLens zip"
        GROUPLENS = "grouplens", "GroupLens download"
        PYPI = "pypi", "recbole wheel from PyPI"
        RELEASE = "release", "MovieLens release (folder or zip)"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=16, choices=Source.choices)
    location = models.CharField(max_length=1024, blank=True, help_text="Folder, file or URL.")
    checksum = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 over the files that were read."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    genres_read = models.PositiveIntegerField(default=0)
    movies_read = models.PositiveIntegerField(default=0)
    viewers_read = models.PositiveIntegerField(default=0)
    ratings_read = models.PositiveIntegerField(default=0)
    ratings_created = models.PositiveIntegerField(default=0)
    ratings_updated = models.PositiveIntegerField(default=0)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.get_source_display()}, {self.status})"

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class DataOverviewSnapshot(models.Model):
    """The dashboard's data overview as last computed (one row).

    It aggregates every rating (per month, per score, per movie): tens of seconds at
    MovieLens-25M size. On a large ratings table the dashboard shows this snapshot, made
    after each load and by ``manage.py refreshdataoverview``, rather than aggregating on a
    page view.
    """

    computed_at = models.DateTimeField()
    document = models.JSONField()

    def __str__(self) -> str:
        return f"Data overview of {self.computed_at:%Y-%m-%d %H:%M}"
