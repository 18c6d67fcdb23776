"""``manage.py train``: run (or enqueue) a retrain and report its metrics."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.models import ModelRun
from recommender.services.retrain import retrain_request
from recommender.services.runs import TrainingError
from recommender.services.training import model_run_create, model_run_execute


class Command(BaseCommand):
    help = (
        "Train the two-stage recommender: recall tables, LightGBM ranker, offline evaluation "
        "against baselines, activation. Runs in this process unless --async is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--async",
            dest="enqueue",
            action="store_true",
            help="enqueue the retrain for a Celery worker (needs CELERY_BROKER_URL)",
        )
        parser.add_argument(
            "--no-activate", action="store_true", help="train and evaluate, but do not serve it"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="activate even if it scores worse than the active run",
        )

    def handle(self, *args: Any, enqueue: bool, no_activate: bool, force: bool, **options: Any):
        if enqueue:
            if not settings.CELERY_BROKER_URL:
                raise CommandError(
                    "--async needs a Celery broker: set CELERY_BROKER_URL (e.g. "
                    "redis://127.0.0.1:6379/0) and start `make worker`"
                )
            try:
                request = retrain_request(
                    triggered_by="manage.py train --async", activate=not no_activate, force=force
                )
            except TrainingError as exc:
                raise CommandError(str(exc)) from None
            run = request.run
            if not request.created:
                raise CommandError(
                    f"model run {run.id} is already {run.status} ({run.stage}); one retrain "
                    "runs at a time, follow that one in the admin"
                )
            self.stdout.write(
                f"Model run {run.id}: {run.data_snapshot['ratings']:,} ratings; enqueued as "
                f"task {run.task_id}; follow it in the admin."
            )
            return
        run = model_run_create(triggered_by="manage.py train")
        self.stdout.write(f"Model run {run.id}: {run.data_snapshot['ratings']:,} ratings")
        try:
            run = model_run_execute(
                run_id=run.id,
                activate=not no_activate,
                force=force,
                on_stage=self._stage_done,
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        self._report(run)

    def _stage_done(self, run: ModelRun) -> None:
        seconds = run.stage_seconds.get(run.stage)
        self.stdout.write(f"  {run.get_stage_display():<26} {seconds:>7.1f} s")

    def _report(self, run: ModelRun) -> None:
        metrics = run.metrics
        protocol = metrics.get("protocol", {})
        self.stdout.write(
            f"\nOffline evaluation ({protocol.get('name')} hold-out, "
            f"{protocol.get('test_ratings', 0):,} ratings of {protocol.get('users', 0):,} viewers; "
            f"candidate recall {metrics.get('candidate_recall', float('nan')):.3f}):"
        )
        rows = {"system": metrics.get("system", {}), **metrics.get("baselines", {})}
        self.stdout.write(
            f"  {'':<14}" + "".join(f"{name:>13}" for name in ModelRun.HEADLINE_METRICS)
        )
        for label, values in rows.items():
            cells = "".join(
                f"{values.get(name, float('nan')):>13.4f}" for name in ModelRun.HEADLINE_METRICS
            )
            self.stdout.write(f"  {label:<14}{cells}")
        like = metrics.get("like", {})
        if "auc" in like:
            self.stdout.write(
                f"  rating >= 4 AUC on {like['pairs']:,} held-out pairs: {like['auc']:.4f} "
                f"(user mean + item mean {like['baseline_auc']:.4f})"
            )
        state = "active" if run.is_active else "not activated"
        self.stdout.write(
            self.style.SUCCESS(f"\nModel run {run.id} succeeded in {run.seconds:.1f} s ({state}).")
        )
