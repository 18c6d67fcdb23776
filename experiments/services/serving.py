"""What ``/recommend`` serves: the active run's list, or the viewer's variant in the
running experiment (split), or two variants' lists interleaved; every answer carries a
``request_id`` and is recorded as an impression.

The answers themselves come from the recommender's serving service, cached per viewer
and strategy, already rendered as JSON: per request only the request id, the experiment
block and (interleaving) the merge of two cached lists are added, by splicing bytes, so a
cached answer is neither re-serialised nor re-encoded.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Collection, Sequence
from typing import NamedTuple

from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from experiments.engine.assignment import Assigner
from experiments.engine.interleaving import team_draft
from recommender.services.serving import (
    Strategy,
    ViewerRecommendations,
    recommendation_lists,
)

from ..models import Experiment, Variant
from ..selectors import RunningExperiment, ServedVariant
from .impressions import ServedList, impression_record
from .lifecycle import running_experiment


class ServedAnswer(NamedTuple):
    """One ``/recommend`` answer: its body (``RecommendationsSerializer``'s shape) and the
    same as JSON bytes, byte for byte what DRF's JSONRenderer makes of ``data``."""

    data: dict
    content: bytes


def recommendations_served(
    *, viewer_id: int, topk: int, genres: Collection[str] = (), exclude: Collection[int] = ()
) -> ServedAnswer:
    """The ``/recommend`` answer for this viewer.

    Raises what ``recommendations_for_viewers`` raises (an unknown genre).
    """
    request_id = _request_id()
    experiment = running_experiment()
    options = {"topk": topk, "genres": genres, "exclude": exclude}
    if experiment is None:
        (result,) = _answers(viewer_id, [None], options)
        impression_record(_served(request_id, viewer_id, result, None, None))
        return _answer(result, request_id, None)
    if experiment.mode == Experiment.Mode.INTERLEAVE:
        return _interleaved(experiment, viewer_id, request_id, options)
    variant = experiment.variants[_assigner(tuple(experiment.weights))(experiment.salt, viewer_id)]
    (result,) = _answers(viewer_id, [variant], options)
    impression_record(_served(request_id, viewer_id, result, experiment, variant))
    return _answer(result, request_id, _tag(experiment.id, experiment.name, variant.name))


def _request_id() -> uuid.UUID:
    """A version-4 UUID from the process's Mersenne Twister (seeded from the system's
    randomness at start and again in every forked child): request ids must be unique,
    not secret, and ``uuid4()`` asks the kernel for randomness on every request."""
    return uuid.UUID(int=random.getrandbits(128), version=4)


@functools.lru_cache(maxsize=16)
def _assigner(weights: tuple[float, ...]) -> Assigner:
    return Assigner(weights)


def _interleaved(
    experiment: RunningExperiment, viewer_id: int, request_id: uuid.UUID, options: dict
) -> ServedAnswer:
    """Team-draft interleaving of the two variants' lists, each item credited."""
    first, second = _answers(viewer_id, experiment.variants, options)
    ranked = [[item.item_id for item in result.recommendations] for result in (first, second)]
    items, teams = team_draft(
        ranked[0],
        ranked[1],
        options["topk"],
        # The coin flips of this request, reproducible from its id.
        request_id.int % 2**32,
    )
    served = ServedList(
        request_id, viewer_id, experiment.id, None, first.model_run, items, teams, timezone.now()
    )
    impression_record(served)
    # A movie both lists hold is shown as the first variant rendered it.
    at = [{item: i for i, item in enumerate(ranked[side])} for side in (0, 1)]
    picked = [(0, at[0][item]) if item in at[0] else (1, at[1][item]) for item in items]
    sources = (first, second)
    tag = {
        **_tag(experiment.id, experiment.name, None).data,
        "credits": [experiment.variants[team].name for team in teams],
    }
    data = {
        **first.representation,
        "recommendations": [
            sources[side].representation["recommendations"][i] for side, i in picked
        ],
        "request_id": str(request_id),
        "experiment": tag,
    }
    chosen = b",".join(sources[side].json_items[i] for side, i in picked)
    content = b"".join(
        (first.json_head, chosen, b"]", _extra(request_id), b',"experiment":', _json(tag), b"}")
    )
    return ServedAnswer(data, content)


def _answers(
    viewer_id: int, variants: Sequence[ServedVariant | None], options: dict
) -> list[ViewerRecommendations]:
    """The viewer's list under each variant (None: as served outside experiments)."""
    return recommendation_lists(
        viewer_id=viewer_id,
        topk=options["topk"],
        genres=options["genres"],
        exclude=options["exclude"],
        strategies=[_strategy(variant) for variant in variants],
    )


def _strategy(variant: ServedVariant | None) -> Strategy:
    strategy = variant.strategy if variant else Variant.Strategy.ACTIVE
    run_id = variant.run_id if strategy == Variant.Strategy.RUN else None
    return run_id, strategy == Variant.Strategy.POPULARITY


def _answer(
    result: ViewerRecommendations, request_id: uuid.UUID, tag: ServedAnswer | None
) -> ServedAnswer:
    data = {**result.representation, "request_id": str(request_id)}
    extra = _extra(request_id)
    if tag is not None:
        data["experiment"] = tag.data
        extra += b',"experiment":' + tag.content
    return ServedAnswer(data, result.json_body(extra))


def _extra(request_id: uuid.UUID) -> bytes:
    return b',"request_id":"' + str(request_id).encode() + b'"'


#: DRF's JSON rendering, as the API would send ``data``.
_json = JSONRenderer().render


@functools.lru_cache(maxsize=64)
def _tag(experiment_id: int, name: str, variant: str | None) -> ServedAnswer:
    """The ``experiment`` block, rendered once per experiment and variant."""
    data = {"id": experiment_id, "name": name, "variant": variant}
    return ServedAnswer(data, _json(data))


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
        items=[item.item_id for item in result.recommendations],
        credits=None,
        served_at=timezone.now(),
    )
