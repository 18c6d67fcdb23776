"""``manage.py simulate_traffic``: simulated viewers drive an experiment through the HTTP API."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from experiments.simulation.client import ApiClient, ApiError
from experiments.simulation.data import (
    SPLITS,
    build_world,
    read_grouplens_ratings,
    write_training_folder,
)
from experiments.simulation.experiments import MODES, experiment_spec, results_summary
from experiments.simulation.run import SimulationPlan, run_simulation
from experiments.simulation.traffic import ClickModel, TrafficOptions
from ingestion.selectors import dataset_counts


class Command(BaseCommand):
    help = (
        "Split a MovieLens folder, load the training part and train (unless told not to), "
        "then let simulated viewers request lists from --base-url and click the movies of "
        "their held-out future, in an experiment given by id or created here; prints its "
        "results."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        data = parser.add_argument_group("data")
        data.add_argument("--path", type=Path, required=True, help="GroupLens (ml-100k) folder")
        data.add_argument("--split", choices=SPLITS, default="stratified")
        data.add_argument("--holdout", type=float, default=0.25, help="held-out share per viewer")
        data.add_argument("--seed", type=int, default=42, help="split, viewer order and clicks")
        data.add_argument(
            "--min-rating", type=float, default=0.0, help="held-out ratings below are no future"
        )
        data.add_argument(
            "--skip-load",
            action="store_true",
            help="the database already holds this split's training part: do not load it",
        )
        data.add_argument("--reuse-run", action="store_true", help="do not train: serve as is")
        server = parser.add_argument_group("server")
        server.add_argument("--base-url", default="http://127.0.0.1:8000")
        server.add_argument("--token", help="API token of a staff user (Authorization: Token)")
        experiment = parser.add_argument_group("experiment")
        experiment.add_argument("--experiment", type=int, help="drive this (running) experiment")
        experiment.add_argument(
            "--variants",
            nargs="+",
            default=["active:50", "popularity:50"],
            help="[NAME=]STRATEGY:WEIGHT, STRATEGY active | popularity | run<ID>",
        )
        experiment.add_argument("--mode", choices=MODES, default="split")
        experiment.add_argument(
            "--salt",
            help="assignment salt sent with the created experiment (default: the server draws one)",
        )
        experiment.add_argument("--name", default="simulated traffic")
        experiment.add_argument(
            "--keep-running", action="store_true", help="do not stop the created experiment"
        )
        traffic = parser.add_argument_group("traffic")
        traffic.add_argument("--fraction", type=float, default=1.0, help="share of viewers")
        traffic.add_argument("--sessions", type=int, default=1, help="lists per viewer")
        traffic.add_argument("--topk", type=int, default=10)
        traffic.add_argument("--noise", type=float, default=0.0, help="P(click) off-future")
        traffic.add_argument("--no-position-bias", action="store_true")
        traffic.add_argument("--checkpoint-every", type=int, default=0, help="results every N")
        traffic.add_argument(
            "--drop",
            nargs="*",
            default=[],
            metavar="VARIANT=SHARE",
            help="leave out a share of a variant's viewers (an injected sample-ratio mismatch)",
        )
        traffic.add_argument(
            "--new-visitors",
            type=int,
            default=0,
            help="also this many synthetic first-time visitors (no ratings: the cold-start "
            "list; they click only at the --noise rate)",
        )
        traffic.add_argument(
            "--settle",
            type=float,
            default=2.0,
            help="seconds to wait before reading results (impressions are written in bulk)",
        )
        parser.add_argument("--json", type=Path, help="also write the results and log here")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            plan = self._plan(options)
            world = build_world(
                read_grouplens_ratings(options["path"]),
                split=options["split"],
                holdout=options["holdout"],
                seed=options["seed"],
                min_rating=options["min_rating"],
            )
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        if not options["skip_load"]:
            self._load(options["path"], world.train)
        if not options["reuse_run"]:
            call_command("train", stdout=self.stdout, stderr=self.stderr)
        client = ApiClient(options["base_url"], options["token"])
        try:
            outcome = run_simulation(client, world, plan)
        except (ApiError, OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(outcome.results, indent=2))
        self.stdout.write(results_summary(outcome.results))
        self.stdout.write(outcome.traffic_summary())
        if options["json"]:
            options["json"].write_text(json.dumps(outcome.as_dict(), indent=2))

    def _plan(self, options: dict[str, Any]) -> SimulationPlan:
        drop = {}
        for text in options["drop"]:
            name, sep, share = text.rpartition("=")
            if not sep or not name:
                raise ValueError(f"--drop {text!r}: expected VARIANT=SHARE, e.g. popularity=0.2")
            drop[name] = float(share)
        spec = None
        if options["experiment"] is None:
            spec = experiment_spec(
                name=options["name"],
                mode=options["mode"],
                variants=options["variants"],
                salt=options["salt"],
            )
        return SimulationPlan(
            experiment_id=options["experiment"],
            spec=spec,
            stop_after=not options["keep_running"],
            clicks=ClickModel(
                position_bias=not options["no_position_bias"], noise=options["noise"]
            ),
            traffic=TrafficOptions(
                topk=options["topk"],
                sessions=options["sessions"],
                fraction=options["fraction"],
                seed=options["seed"],
                checkpoint_every=options["checkpoint_every"],
                drop=drop,
                settle_seconds=options["settle"],
                new_visitors=options["new_visitors"],
            ),
        )

    def _load(self, source: Path, train: Any) -> None:
        ratings = dataset_counts()["ratings"]
        if ratings:
            # Held-out ratings already in the database would never be recommended, so
            # nobody could click their future: the simulation needs the training part alone.
            raise CommandError(
                f"the database already holds {ratings:,} ratings: load the training part into "
                "an empty database, or pass --skip-load if it holds this split's training part"
            )
        with tempfile.TemporaryDirectory(prefix="simulate-traffic-") as scratch:
            folder = write_training_folder(source, train, Path(scratch) / "ml-100k")
            call_command("loadml100k", path=folder, stdout=self.stdout, stderr=self.stderr)
