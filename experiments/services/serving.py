"""What ``/recommend`` serves: the active run's list, or the viewer's variant in the
running experiment (split), or two variants' lists interleaved; every answer carries a
``request_id`` and is recorded as an impression.

The answers themselves come from the recommender's serving service, cached per viewer
and strategy as always: only the request id, the experiment block and (interleaving) the
merge of two cached lists are done per request.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from django.utils import timezone

from experiments.engine.assignment import assign_variant
from experiments.engine.interleaving import team_draft
from recommender.services.serving import ViewerRecommendations, recommendations_for_viewers

from ..models import Experiment, Variant
from ..selectors import RunningExperiment, ServedVariant
from .impressions import ServedList, impression_record
from .lifecycle import running_experiment


def recommendations_served(
    *, viewer_id: int, topk: int, genres: Collection[str] = (), exclude: Collection[int] = ()
) -> dict:
    """The ``/recommend`` body for this viewer (``RecommendationsSerializer``'s shape).

    Raises what ``recommendations_for_viewers`` raises (an unknown genre).
    """
    request_id = uuid.uuid4()
    experiment = running_experiment()
    options = {"topk": topk, "genres": genres, "exclude": exclude}
    if experiment is None:
        result = _answer(viewer_id, None, options)
        impression_record(_served(request_id, viewer_id, result, None, None))
        return {**result.representation, "request_id": str(request_id)}
    if experiment.mode == Experiment.Mode.INTERLEAVE:
        return _interleaved(experiment, viewer_id, request_id, options)
    variant = experiment.variants[assign_variant(experiment.salt, viewer_id, experiment.weights)]
    result = _answer(viewer_id, variant, options)
    impression_record(_served(request_id, viewer_id, result, experiment, variant))
    return {
        **result.representation,
        "request_id": str(request_id),
        "experiment": {"id": experiment.id, "name": experiment.name, "variant": variant.name},
    }


def _interleaved(
    experiment: RunningExperiment, viewer_id: int, request_id: uuid.UUID, options: dict
) -> dict:
    """Team-draft interleaving of the two variants' lists, each item credited."""
    first, second = (_answer(viewer_id, variant, options) for variant in experiment.variants)
    shown = {
        item["item_id"]: item
        for result in (second, first)  # the first variant's rendering of a shared movie
        for item in result.representation["recommendations"]
    }
    items, teams = team_draft(
        [item["item_id"] for item in first.representation["recommendations"]],
        [item["item_id"] for item in second.representation["recommendations"]],
        options["topk"],
        # The coin flips of this request, reproducible from its id.
        request_id.int % 2**32,
    )
    served = ServedList(
        request_id, viewer_id, experiment.id, None, first.model_run, items, teams, timezone.now()
    )
    impression_record(served)
    names = [experiment.variants[team].name for team in teams]
    return {
        **first.representation,
        "recommendations": [shown[item] for item in items],
        "request_id": str(request_id),
        "experiment": {
            "id": experiment.id,
            "name": experiment.name,
            "variant": None,
            "credits": names,
        },
    }


def _answer(viewer_id: int, variant: ServedVariant | None, options: dict) -> ViewerRecommendations:
    strategy = variant.strategy if variant else Variant.Strategy.ACTIVE
    (result,) = recommendations_for_viewers(
        viewer_ids=[viewer_id],
        topk=options["topk"],
        genres=options["genres"],
        exclude={viewer_id: options["exclude"]},
        run_id=variant.run_id if strategy == Variant.Strategy.RUN else None,
        popularity=strategy == Variant.Strategy.POPULARITY,
    )
    return result


def _served(
    request_id: uuid.UUID,
    viewer_id: int,
    result: ViewerRecommendations,
    experiment: RunningExperiment | None,
    variant: ServedVariant | None,
) -> ServedList:
    return ServedList(
        request_id=request_id,
        viewer_id=viewer_id,
        experiment_id=experiment.id if experiment else None,
        variant_id=variant.id if variant else None,
        model_run_id=result.model_run,
        items=[item["item_id"] for item in result.representation["recommendations"]],
        credits=None,
        served_at=timezone.now(),
    )
