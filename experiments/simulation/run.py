"""One simulation: create or find the experiment, drive the traffic, read the results."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .client import ApiClient
from .data import World
from .experiments import predicted_assignment
from .traffic import (
    ClickModel,
    TrafficOptions,
    TrafficReport,
    drive_traffic,
    settled_results,
)


@dataclass(frozen=True)
class SimulationPlan:
    """Which experiment (an id, or a spec to create and start) and what traffic."""

    experiment_id: int | None
    spec: dict[str, Any] | None
    clicks: ClickModel
    traffic: TrafficOptions
    stop_after: bool = True

    def __post_init__(self) -> None:
        if (self.experiment_id is None) == (self.spec is None):
            raise ValueError("give either an experiment id or a spec to create one")


@dataclass(frozen=True)
class SimulationOutcome:
    """The experiment as the API showed it, its results after the traffic, and the log."""

    experiment: dict[str, Any]
    results: dict[str, Any]
    traffic: TrafficReport

    def traffic_summary(self) -> str:
        report = self.traffic
        return (
            f"simulated {len(report.viewers)} viewers ({report.dropped} left out), "
            f"{report.requests} lists, {report.clicks} clicks, {report.events_sent} events sent "
            f"in {report.seconds:.1f} s; variant changes on re-request: "
            f"{report.sticky_violations}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "results": self.results,
            "traffic": asdict(self.traffic),
        }


def run_simulation(client: ApiClient, world: World, plan: SimulationPlan) -> SimulationOutcome:
    """Run ``plan`` against the server; an experiment created here is stopped afterwards
    (also when the traffic fails) unless ``plan.stop_after`` is false."""
    created = plan.spec is not None
    if created:
        experiment = client.experiment_create(plan.spec)
        client.experiment_start(experiment["id"])
    else:
        experiment = client.experiment(plan.experiment_id)
    experiment_id = int(experiment["id"])
    try:
        assign = predicted_assignment(experiment) if plan.traffic.drop else None
        report = drive_traffic(
            client,
            world,
            plan.clicks,
            plan.traffic,
            experiment_id=experiment_id,
            assign=assign,
        )
        results = settled_results(client, experiment_id, plan.traffic.settle_seconds)
    finally:
        if created and plan.stop_after:
            client.experiment_stop(experiment_id)
    return SimulationOutcome(experiment=experiment, results=results, traffic=report)
