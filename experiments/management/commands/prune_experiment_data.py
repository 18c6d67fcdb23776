"""``manage.py prune_experiment_data``: delete old impressions and events now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from experiments.services.retention import experiment_data_prune


class Command(BaseCommand):
    help = (
        "Delete impressions and click/watch/like events older than the retention "
        "(VIDEOREC_IMPRESSION_RETENTION_DAYS) that no running or draft experiment needs; "
        "dislikes are kept. Beat runs the same every night (setup_periodic_tasks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, help="retention in days (default: the setting; 0 keeps all)"
        )

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        try:
            pruned = experiment_data_prune(days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if pruned.cutoff is None:
            self.stdout.write("Retention is off (0 days): nothing deleted.")
            return
        self.stdout.write(
            f"Deleted {pruned.impressions:,} impressions and {pruned.events:,} events "
            f"older than {pruned.cutoff:%Y-%m-%d %H:%M} UTC."
        )
