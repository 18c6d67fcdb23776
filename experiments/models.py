"""Online experiments: what was shown (impressions), what viewers did (events), and the
experiments splitting traffic between strategies (variants)."""

from __future__ import annotations

import secrets

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from recommender.models import ModelRun


def new_salt() -> str:
    return secrets.token_hex(8)


class Experiment(models.Model):
    class Mode(models.TextChoices):
        SPLIT = "split", "Split (A/B)"
        INTERLEAVE = "interleave", "Team-draft interleaving"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.SPLIT)
    # Assignment hashes (salt, viewer id): a new salt reshuffles viewers, independently
    # of every other experiment.
    salt = models.CharField(max_length=64, default=new_salt)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One running experiment at a time: the service checks first (409), this is
            # the last line of defence against two concurrent starts.
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="running"),
                name="experiment_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"Experiment {self.id}: {self.name}"


class Variant(models.Model):
    class Strategy(models.TextChoices):
        ACTIVE = "active", "The active model run"
        POPULARITY = "popularity", "Popularity baseline"
        RUN = "run", "A named model run"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    #: Order of the variants (the weights' order in the assignment hash).
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=64)
    strategy = models.CharField(max_length=16, choices=Strategy.choices)
    model_run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    weight = models.FloatField(validators=[MinValueValidator(0.0)])

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "position"], name="variant_position"),
            models.UniqueConstraint(fields=["experiment", "name"], name="variant_name"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Impression(models.Model):
    """One list served by ``/recommend``: written in bulk, off the request path."""

    request_id = models.UUIDField(unique=True)
    viewer_id = models.PositiveIntegerField()
    experiment = models.ForeignKey(
        Experiment, null=True, blank=True, on_delete=models.CASCADE, db_index=False
    )
    #: The viewer's variant in a split experiment; null when interleaved (see ``credits``).
    variant = models.ForeignKey(Variant, null=True, blank=True, on_delete=models.CASCADE)
    #: The run that ranked the list (null: popularity before any training). A plain id:
    #: runs are deleted by retention, the record of what was shown stays.
    model_run_id = models.PositiveIntegerField(null=True, blank=True)
    #: Movie ids in the order shown (position = index + 1).
    items = models.JSONField(default=list)
    #: Interleaving: the variant position (0 or 1) that placed each item; else null.
    credits = models.JSONField(null=True, blank=True)
    served_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["experiment", "viewer_id"], name="impression_exp_viewer"),
            models.Index(fields=["experiment", "served_at"], name="impression_exp_time"),
        ]

    def __str__(self) -> str:
        return f"Impression {self.request_id}"


class Event(models.Model):
    """Feedback from a client: a click, watch, like or dislike of a movie by a viewer."""

    class Type(models.TextChoices):
        CLICK = "click", "Click"
        WATCH = "watch", "Watch"
        LIKE = "like", "Like"
        DISLIKE = "dislike", "Dislike"

    type = models.CharField(max_length=8, choices=Type.choices)
    # Plain ids: events outlive deleted movies and arrive for viewers created later.
    user_id = models.PositiveIntegerField()
    item_id = models.PositiveIntegerField()
    #: The ``request_id`` of the answer that showed the movie, when the client sends it.
    request_id = models.UUIDField(null=True, blank=True)
    timestamp = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)
    #: The client's idempotency key: a retried batch stores each event once.
    event_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Clicks of an experiment's lists (results), by the answer they came from.
            models.Index(
                fields=["request_id", "type"],
                condition=Q(request_id__isnull=False),
                name="event_request",
            ),
            # A viewer's dislikes (serving excludes them).
            models.Index(fields=["user_id", "type"], name="event_user_type"),
            # Counts by type over time (admin, /metrics).
            models.Index(fields=["type", "timestamp"], name="event_type_time"),
        ]

    def __str__(self) -> str:
        return f"{self.type} of movie {self.item_id} by viewer {self.user_id}"
