"""Simulated viewers: request their list, click what is in their future, report the clicks."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .client import EVENTS_PER_BATCH, ApiClient
from .data import World

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClickModel:
    """How a simulated viewer clicks a list.

    A position ``p`` (1-based) is examined with probability ``1 / log2(p + 1)`` when
    ``position_bias`` is on (the DCG discount: people read from the top), always
    otherwise. An examined movie in the viewer's future is clicked; any other examined
    movie is clicked with probability ``noise``.
    """

    position_bias: bool = True
    noise: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.noise <= 1:
            raise ValueError(f"click noise must be between 0 and 1, got {self.noise!r}")

    def clicked_positions(
        self, items: list[int], future: frozenset[int], rng: np.random.Generator
    ) -> list[int]:
        """0-based positions of ``items`` this viewer clicks in one session."""
        if not items:
            return []
        positions = np.arange(1, len(items) + 1)
        examine = 1 / np.log2(positions + 1) if self.position_bias else np.ones(len(items))
        relevant = np.array([item in future for item in items])
        click = np.where(relevant, 1.0, self.noise) * examine
        return [int(p) for p in np.flatnonzero(rng.random(len(items)) < click)]


@dataclass(frozen=True)
class TrafficOptions:
    """What to simulate: how many viewers, sessions, list length, and checkpoints.

    ``drop`` maps a variant name to the share of its viewers who never arrive (exactly
    that share of the chosen viewers assigned to it, picked at random: an injected
    sample-ratio mismatch); it needs ``assign`` in :func:`drive_traffic`.
    ``checkpoint_every`` fetches the experiment's results after every that many viewers;
    every read of the results first waits ``settle_seconds`` (the server writes
    impressions in bulk, ``VIDEOREC_IMPRESSION_FLUSH_SECONDS`` after serving them).
    ``new_visitors`` adds that many synthetic first-time visitors (:func:`visitors`).
    """

    topk: int = 10
    sessions: int = 1
    fraction: float = 1.0
    seed: int = 0
    checkpoint_every: int = 0
    drop: Mapping[str, float] = field(default_factory=dict)
    settle_seconds: float = 2.0
    new_visitors: int = 0

    def __post_init__(self) -> None:
        if self.topk < 1 or self.sessions < 1 or self.checkpoint_every < 0:
            raise ValueError("topk and sessions must be >= 1, checkpoint_every >= 0")
        if self.new_visitors < 0:
            raise ValueError("new_visitors must be >= 0")
        if self.settle_seconds < 0:
            raise ValueError("settle_seconds must be >= 0")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction of viewers must be in (0, 1], got {self.fraction!r}")
        for name, share in self.drop.items():
            if not 0 <= share <= 1:
                raise ValueError(f"drop share of {name!r} must be between 0 and 1")


@dataclass(frozen=True)
class Session:
    """One served list: its request id, the items shown and the 0-based positions clicked."""

    request_id: str | None
    items: tuple[int, ...]
    clicked: tuple[int, ...]


@dataclass(frozen=True)
class ViewerLog:
    """One simulated viewer's variant (``None`` outside any experiment) and sessions."""

    user_id: int
    variant: str | None
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class TrafficReport:
    """What the simulator did and saw."""

    viewers: tuple[ViewerLog, ...]
    dropped: int
    sticky_violations: int
    events_sent: int
    seconds: float
    checkpoints: tuple[dict[str, Any], ...]

    @property
    def requests(self) -> int:
        return sum(len(viewer.sessions) for viewer in self.viewers)

    @property
    def clicks(self) -> int:
        return sum(len(s.clicked) for viewer in self.viewers for s in viewer.sessions)


def choose_viewers(world: World, fraction: float, seed: int) -> list[int]:
    """A seeded random ``fraction`` of the viewers with a future, in visiting order."""
    viewers = np.array(world.viewers, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(viewers.size)
    count = max(1, math.ceil(fraction * viewers.size)) if viewers.size else 0
    return [int(user) for user in viewers[order[:count]]]


#: Synthetic first-time visitors get ids from here on: far above any MovieLens viewer, so
#: the server knows none of them (no ratings: its cold-start answer).
NEW_VISITOR_FIRST_ID = 1_000_001


def visitors(world: World, options: TrafficOptions) -> list[int]:
    """Who visits, in order: the chosen viewers (:func:`choose_viewers`) and
    ``options.new_visitors`` synthetic first-time visitors, shuffled together (seeded).

    Real traffic is not only the training set's viewers: new visitors, unknown to the
    server, are assigned by the same hash and served its cold-start list (the popular
    movies). They have no held-out future, so the click model clicks their lists only at
    its ``noise`` rate: on popular movies, or not at all. They make the sample large
    enough for the sample-ratio check to see a 45/55 imbalance (943 viewers alone cannot).
    """
    known = choose_viewers(world, options.fraction, options.seed)
    if not options.new_visitors:
        return known
    new = range(NEW_VISITOR_FIRST_ID, NEW_VISITOR_FIRST_ID + options.new_visitors)
    everyone = np.array([*known, *new], dtype=np.int64)
    order = np.random.default_rng([options.seed, 1]).permutation(everyone.size)
    return [int(user) for user in everyone[order]]


def _click_events(user_id: int, session: Session) -> list[dict[str, Any]]:
    # The request id names the served list, so a retried batch is not counted twice.
    return [
        {
            "type": "click",
            "user_id": user_id,
            "item_id": session.items[position],
            **(
                {"request_id": session.request_id, "event_id": f"{session.request_id}:{position}"}
                if session.request_id
                else {}
            ),
        }
        for position in session.clicked
    ]


def _visit(
    client: ApiClient,
    user_id: int,
    future: frozenset[int],
    model: ClickModel,
    options: TrafficOptions,
    rng: np.random.Generator,
) -> tuple[ViewerLog, int]:
    """Every session of one viewer; the log and the number of variant changes seen."""
    sessions, variants = [], []
    for _ in range(options.sessions):
        answer = client.recommend(user_id, options.topk)
        items = [int(row["item_id"]) for row in answer["recommendations"]]
        experiment = answer.get("experiment") or {}
        variants.append(experiment.get("variant"))
        clicked = model.clicked_positions(items, future, rng)
        sessions.append(Session(answer.get("request_id"), tuple(items), tuple(clicked)))
    changes = sum(1 for variant in variants[1:] if variant != variants[0])
    return ViewerLog(user_id, variants[0], tuple(sessions)), changes


def drive_traffic(
    client: ApiClient,
    world: World,
    model: ClickModel,
    options: TrafficOptions,
    *,
    experiment_id: int | None = None,
    assign: Callable[[int], str] | None = None,
) -> TrafficReport:
    """Visit the chosen viewers one after the other and post their clicks as events.

    ``assign`` predicts a viewer's variant before the visit (only to drop viewers for an
    injected imbalance); checkpoints need ``experiment_id``.
    """
    if options.drop and assign is None:
        raise ValueError("dropping viewers of a variant needs the experiment's assignment")
    if options.checkpoint_every and experiment_id is None:
        raise ValueError("checkpoints need an experiment id")
    rng = np.random.default_rng(options.seed)
    started = time.perf_counter()
    logs: list[ViewerLog] = []
    pending: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    violations = sent = 0
    viewers = visitors(world, options)
    left_out = _left_out(viewers, options.drop, assign, rng) if options.drop else set()
    for user_id in viewers:
        if user_id in left_out:
            continue
        future = world.futures.get(user_id, frozenset())
        log, changes = _visit(client, user_id, future, model, options, rng)
        logs.append(log)
        violations += changes
        pending.extend(event for s in log.sessions for event in _click_events(user_id, s))
        if len(pending) >= EVENTS_PER_BATCH or _checkpoint_due(options, len(logs)):
            sent += _post(client, pending)
            pending = []
        if _checkpoint_due(options, len(logs)):
            results = client.experiment_results(experiment_id)
            checkpoints.append({"viewers": len(logs), "results": results})
    sent += _post(client, pending)
    if (
        experiment_id is not None
        and options.checkpoint_every
        and len(logs) % options.checkpoint_every
    ):
        checkpoints.append(
            {"viewers": len(logs), "results": client.experiment_results(experiment_id)}
        )
    return TrafficReport(
        viewers=tuple(logs),
        dropped=len(left_out),
        sticky_violations=violations,
        events_sent=sent,
        seconds=time.perf_counter() - started,
        checkpoints=tuple(checkpoints),
    )


def _left_out(
    viewers: list[int],
    drop: Mapping[str, float],
    assign: Callable[[int], str],
    rng: np.random.Generator,
) -> set[int]:
    """``round(share * n)`` random viewers of each variant in ``drop``."""
    chosen: set[int] = set()
    for name, share in drop.items():
        members = [viewer for viewer in viewers if assign(viewer) == name]
        count = round(share * len(members))
        chosen.update(int(v) for v in rng.choice(members, size=count, replace=False))
    return chosen


def settled_results(client: ApiClient, experiment_id: int, settle_seconds: float) -> dict:
    """The experiment's results once the impressions served so far are written."""
    if settle_seconds:
        time.sleep(settle_seconds)
    return client.experiment_results(experiment_id)


def _checkpoint_due(options: TrafficOptions, visited: int) -> bool:
    return bool(options.checkpoint_every) and visited % options.checkpoint_every == 0


def _post(client: ApiClient, events: list[dict[str, Any]]) -> int:
    """Post ``events``; how many were sent."""
    if events:
        client.post_events(events)
    return len(events)
