"""Reads: the running experiment, a viewer's dislikes, an experiment's impressions and
clicks (the results' raw material)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from .models import Event, Experiment, Impression, Variant


@dataclass(frozen=True)
class ServedVariant:
    id: int
    name: str
    strategy: str
    run_id: int | None
    weight: float


@dataclass(frozen=True)
class RunningExperiment:
    """What serving needs of the running experiment, small enough to cache per process."""

    id: int
    name: str
    mode: str
    salt: str
    variants: tuple[ServedVariant, ...]

    @property
    def weights(self) -> list[float]:
        return [variant.weight for variant in self.variants]

    @property
    def run_ids(self) -> set[int]:
        return {variant.run_id for variant in self.variants if variant.run_id is not None}


def running_experiment_read() -> RunningExperiment | None:
    """The running experiment, read from the database now."""
    experiment = (
        Experiment.objects.filter(status=Experiment.Status.RUNNING)
        .prefetch_related("variants")
        .first()
    )
    if experiment is None:
        return None
    return RunningExperiment(
        id=experiment.id,
        name=experiment.name,
        mode=experiment.mode,
        salt=experiment.salt,
        variants=tuple(
            ServedVariant(v.id, v.name, v.strategy, v.model_run_id, v.weight)
            for v in experiment.variants.all()
        ),
    )


def experiment_run_ids() -> set[int]:
    """The model runs named by a running or draft experiment's variants: they must stay
    loadable (the recommender's retention and deletion leave them alone)."""
    return set(
        Variant.objects.filter(
            experiment__status__in=[Experiment.Status.RUNNING, Experiment.Status.DRAFT],
            model_run__isnull=False,
        ).values_list("model_run_id", flat=True)
    )


def experiments_list() -> QuerySet[Experiment]:
    return Experiment.objects.prefetch_related("variants").order_by("-id")


#: Viewer ids per query: SQLite limits the parameters of one statement (32,766), and a batch
#: export asks for every viewer at once.
VIEWERS_PER_QUERY = 10_000


def disliked_movies(viewer_ids: Sequence[int]) -> dict[int, set[int]]:
    """The movies each of these viewers disliked (one index probe per viewer)."""
    ids = sorted(set(viewer_ids))
    disliked: dict[int, set[int]] = {}
    for start in range(0, len(ids), VIEWERS_PER_QUERY):
        rows = Event.objects.filter(
            type=Event.Type.DISLIKE, user_id__in=ids[start : start + VIEWERS_PER_QUERY]
        )
        for viewer, item in rows.values_list("user_id", "item_id"):
            disliked.setdefault(viewer, set()).add(item)
    return disliked


def existing_event_ids(event_ids: Collection[str]) -> set[str]:
    return set(
        Event.objects.filter(event_id__in=list(event_ids)).values_list("event_id", flat=True)
    )


def experiment_impressions(*, experiment_id: int) -> Iterator[tuple]:
    """``(request_id, viewer_id, variant_id, served_at, items, credits)`` of every list the
    experiment served, streamed."""
    return (
        Impression.objects.filter(experiment_id=experiment_id)
        .order_by()
        .values_list("request_id", "viewer_id", "variant_id", "served_at", "items", "credits")
        .iterator(chunk_size=5000)
    )


def experiment_clicks(*, experiment_id: int) -> dict[uuid.UUID, set[int]]:
    """The movies clicked in each of the experiment's lists, by the list's request id."""
    lists = Impression.objects.filter(experiment_id=experiment_id).values("request_id")
    clicks = Event.objects.filter(type=Event.Type.CLICK, request_id__in=lists).order_by()
    clicked: dict[uuid.UUID, set[int]] = {}
    for request_id, item in clicks.values_list("request_id", "item_id").iterator(chunk_size=5000):
        clicked.setdefault(request_id, set()).add(item)
    return clicked


def event_counts() -> dict[str, int]:
    """Stored events by type (one grouped query)."""
    return dict(
        Event.objects.order_by()
        .values_list("type")
        .annotate(n=Count("id"))
        .values_list("type", "n")
    )
