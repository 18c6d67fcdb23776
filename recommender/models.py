"""Model runs and the recall tables they publish.

A ``ModelRun`` is one training of the two-stage recommender: its parameters, the data it
saw, how long each stage took, its offline metrics next to the baselines of the same run,
and the artifact that serving loads. At most one run is active (a partial unique index).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ingestion.models import Movie


class ModelRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Stage(models.TextChoices):
        QUEUED = "queued", "Queued"
        RECALL = "recall", "Building recall tables"
        RANKER = "ranker", "Training the ranker"
        EVALUATION = "evaluation", "Evaluating offline"
        ACTIVATION = "activation", "Activating"
        DONE = "done", "Done"

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=255, blank=True, help_text="Celery task of the chain.")
    params = models.JSONField(default=dict, blank=True)
    data_snapshot = models.JSONField(
        default=dict, blank=True, help_text="Counts and newest rating time of the training data."
    )
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Offline metrics of the system and each baseline."
    )
    stage_seconds = models.JSONField(default=dict, blank=True)
    feature_importances = models.JSONField(default=dict, blank=True)
    artifact = models.FileField(upload_to="model_runs/", blank=True)
    # Checked before every load: a file replaced on the storage, even by another valid
    # artifact (which carries its own internal checksum), is refused.
    artifact_sha256 = models.CharField(
        "artifact SHA-256", max_length=64, blank=True, help_text="SHA-256 of the artifact file."
    )
    error = models.TextField(blank=True, help_text="Traceback of the failing stage.")
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    # The process executing a stage right now (empty between stages), so that a run whose
    # worker died can be told apart from one that is merely slow.
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the stage being executed."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="model_run_one_active"
            ),
        ]

    #: Queued or running: a retrain in flight, at most one at a time.
    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)
    #: The offline metrics of a run, in the order operators read them (the admin's pages,
    #: ``manage.py train``); a run's metrics may hold others too.
    HEADLINE_METRICS = (
        "ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "auc", "coverage",
    )  # fmt: skip

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.status})"

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def headline(self, metric: str) -> float | None:
        """A metric of the full system (e.g. ``ndcg@10``), or None if not evaluated."""
        return self.metrics.get("system", {}).get(metric)


class ItemNeighbor(models.Model):
    """One row of a run's item-to-item recall table: ``movie`` → ``neighbor`` (pruned top-N)."""

    # No foreign-key constraints in the database: checking them row by row took most of
    # the 400 s of publishing 7 million rows at MovieLens-25M size. Django still cascades
    # deletions, and publication keeps the rows valid in bulk (see
    # ``recommender.services.recall_tables.recall_tables_write``).
    # The unique constraint below leads with the run: a second index on it only slowed writes.
    run = models.ForeignKey(
        ModelRun,
        on_delete=models.CASCADE,
        related_name="neighbors",
        db_index=False,
        db_constraint=False,
    )
    source = models.CharField(max_length=32)
    movie = models.ForeignKey(
        Movie, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    neighbor = models.ForeignKey(
        Movie, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    score = models.FloatField()
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["run", "source", "movie", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "source", "movie", "rank"], name="item_neighbor_unique_rank"
            ),
        ]
        indexes = [models.Index(fields=["movie", "run"], name="item_neighbor_movie")]

    def __str__(self) -> str:
        return f"{self.movie_id} → {self.neighbor_id} ({self.source} #{self.rank})"


class PopularItem(models.Model):
    """A run's popularity table: the cold-start list, best first."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="popular_items")
    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["run", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["run", "rank"], name="popular_item_unique_rank"),
            models.UniqueConstraint(fields=["run", "movie"], name="popular_item_unique_movie"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.movie_id}"
