"""An experiment's results: per variant the viewers, lists, clicks and CTR with its
interval; the lift over the first variant, tested over viewers (the unit of
randomisation); the sample-ratio check; and, for interleaving, the lists each side won.

A list counts as clicked for a variant when at least one of its movies that the variant
placed was clicked (in a split every movie of the list is the variant's): ``clicks``
counts such lists, so the CTR is a proportion of lists, ``clicks / impressions``. The
lift compares the per-viewer CTRs with Welch's test, so a viewer who saw a hundred lists
weighs as one viewer, not as a hundred independent trials. Clicks reach a list through
the ``request_id`` the client sent with them; a click without one is not attributed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from experiments.engine.interleaving import interleaving_outcome
from experiments.engine.statistics import (
    proportion_ci,
    sign_test_p_value,
    srm_p_value,
    welch_lift,
)

from ..models import Experiment
from ..selectors import experiment_clicks, experiment_impressions
from .impressions import impressions_flush

#: The sample-ratio check flags an experiment below this p-value (Kohavi et al., ch. 21).
SRM_ALARM = 0.001
#: Experiments longer than this are charted by day, shorter ones by hour.
HOURLY_UP_TO = dt.timedelta(days=2)


@dataclass
class Tally:
    """Counts gathered in one pass over an experiment's impressions."""

    n_variants: int
    #: [variant][viewer] -> [lists, clicked lists]
    per_viewer: list[dict[int, list[int]]] = field(default_factory=list)
    clicked_items: list[int] = field(default_factory=list)
    #: interleaving: lists won by each variant, and lists with clicks but no winner
    wins: list[int] = field(default_factory=list)
    ties: int = 0
    #: (period start, variant) -> [lists, clicked lists]
    timeline: dict[tuple[dt.datetime, int], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.per_viewer = [defaultdict(lambda: [0, 0]) for _ in range(self.n_variants)]
        self.clicked_items = [0] * self.n_variants
        self.wins = [0] * self.n_variants
        self.timeline = defaultdict(lambda: [0, 0])


def experiment_results(*, experiment_id: int) -> dict:
    """The results document of ``/api/experiments/<id>/results/`` and the admin page."""
    impressions_flush()  # this process's waiting lists count too
    experiment = Experiment.objects.prefetch_related("variants").get(id=experiment_id)
    variants = list(experiment.variants.all())
    tally = _tally(experiment, [v.id for v in variants])
    per_variant = [_variant_summary(v.name, tally, i) for i, v in enumerate(variants)]
    for index, summary in enumerate(per_variant[1:], start=1):
        summary.update(_lift(tally, 0, index))
    headline = _lift(tally, 0, 1) if len(variants) > 1 else _lift(tally, 0, 0)
    users = [summary["users"] for summary in per_variant]
    srm = None
    if experiment.mode == Experiment.Mode.SPLIT:
        srm = srm_p_value(users, [v.weight for v in variants])
    document = {
        "id": experiment.id,
        "name": experiment.name,
        "mode": experiment.mode,
        "status": experiment.status,
        "variants": per_variant,
        **headline,
        "srm_p_value": srm,
        "srm_alarm": srm is not None and srm < SRM_ALARM,
        "timeline": _timeline(tally, [v.name for v in variants]),
    }
    if experiment.mode == Experiment.Mode.INTERLEAVE:
        document["interleaving"] = _interleaving(tally, [v.name for v in variants])
    return document


def _tally(experiment: Experiment, variant_ids: list[int]) -> Tally:
    clicked = experiment_clicks(experiment_id=experiment.id)
    tally = Tally(len(variant_ids))
    position = {variant_id: index for index, variant_id in enumerate(variant_ids)}
    hourly = (experiment.stopped_at or dt.datetime.now(dt.UTC)) - (
        experiment.started_at or experiment.created_at
    ) <= HOURLY_UP_TO
    for request_id, viewer, variant_id, served_at, items, credits in experiment_impressions(
        experiment_id=experiment.id
    ):
        period = served_at.replace(minute=0, second=0, microsecond=0)
        if not hourly:
            period = period.replace(hour=0)
        hits = clicked.get(_uuid(request_id), set())
        if credits is None:  # split: the whole list is the viewer's variant's
            owner = position[variant_id]
            _count_list(tally, viewer, period, items, [owner] * len(items), {owner}, hits)
        else:
            _count_list(tally, viewer, period, items, credits, {0, 1}, hits)
            _count_duel(tally, items, credits, hits)
    return tally


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _count_list(
    tally: Tally,
    viewer: int,
    period: dt.datetime,
    items: list[int],
    teams: list[int],
    owners: set[int],
    clicked: set[int],
) -> None:
    """One list, counted for each of its ``owners`` (both sides of an interleaved one)."""
    for team in owners:
        hits = sum(1 for item, t in zip(items, teams, strict=True) if t == team and item in clicked)
        tally.clicked_items[team] += hits
        for counts in (tally.per_viewer[team][viewer], tally.timeline[period, team]):
            counts[0] += 1
            counts[1] += hits > 0


def _count_duel(tally: Tally, items: list[int], credits: list[int], clicked: set[int]) -> None:
    teams_clicked = [team for item, team in zip(items, credits, strict=True) if item in clicked]
    if not teams_clicked:
        return
    winner = interleaving_outcome(teams_clicked)
    if winner < 0:
        tally.ties += 1
    else:
        tally.wins[winner] += 1


def _variant_summary(name: str, tally: Tally, index: int) -> dict:
    counts = np.array(list(tally.per_viewer[index].values()), dtype=np.int64).reshape(-1, 2)
    impressions, clicks = (int(total) for total in counts.sum(axis=0))
    low, high = proportion_ci(clicks, impressions)
    return {
        "name": name,
        "users": len(counts),
        "impressions": impressions,
        "clicks": clicks,
        "clicked_items": tally.clicked_items[index],
        "ctr": clicks / impressions if impressions else 0.0,
        "ctr_ci": [low, high],
    }


def _per_viewer_ctr(tally: Tally, index: int) -> np.ndarray:
    counts = np.array(list(tally.per_viewer[index].values()), dtype=float).reshape(-1, 2)
    return counts[:, 1] / np.maximum(counts[:, 0], 1)


def _lift(tally: Tally, control: int, treatment: int) -> dict:
    """Relative lift of ``treatment``'s per-viewer CTR over ``control``'s (Welch)."""
    result = welch_lift(_per_viewer_ctr(tally, control), _per_viewer_ctr(tally, treatment))
    return {
        "lift": result.lift,
        "lift_ci": [result.ci_low, result.ci_high],
        "p_value": result.p_value,
    }


def _interleaving(tally: Tally, names: list[str]) -> dict:
    decided = sum(tally.wins)
    return {
        "lists_won": dict(zip(names, tally.wins, strict=True)),
        "ties": tally.ties,
        "share_won": {
            name: (wins / decided if decided else 0.0)
            for name, wins in zip(names, tally.wins, strict=True)
        },
        "p_value": sign_test_p_value(tally.wins[0], tally.wins[1]),
    }


def _timeline(tally: Tally, names: list[str]) -> list[dict]:
    """Lists and clicked lists per period and variant, oldest first."""
    periods = sorted({period for period, _ in tally.timeline})
    return [
        {
            "start": period.isoformat(),
            "variants": [
                _period_counts(tally.timeline.get((period, index), [0, 0]))
                for index in range(len(names))
            ],
        }
        for period in periods
    ]


def _period_counts(counts: list[int]) -> dict[str, int]:
    return {"impressions": counts[0], "clicks": counts[1]}


def cumulative_ctr(timeline: Iterable[dict], n_variants: int) -> list[list[float | None]]:
    """Each variant's CTR up to each period (the admin chart's series)."""
    totals = np.zeros((n_variants, 2))
    series: list[list[float | None]] = [[] for _ in range(n_variants)]
    for point in timeline:
        for index, counts in enumerate(point["variants"]):
            totals[index] += (counts["impressions"], counts["clicks"])
            lists, clicks = totals[index]
            series[index].append(clicks / lists if lists else None)
    return series
