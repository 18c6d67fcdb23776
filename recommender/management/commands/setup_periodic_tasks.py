"""``manage.py setup_periodic_tasks``: the nightly retrain, the reaper and the nightly
pruning of old impressions and events, for `make beat`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services.schedules import periodic_tasks_setup


class Command(BaseCommand):
    help = (
        "Create the periodic tasks run by `make beat` (the nightly retrain, the stale-run "
        "reaper, the pruning of old impressions and events) unless they exist; edit them "
        "afterwards in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retrain-cron",
            help="'minute hour day month weekday' in UTC (default: VIDEOREC_RETRAIN_CRON)",
        )

    def handle(self, *args: Any, retrain_cron: str | None, **options: Any) -> None:
        try:
            tasks = periodic_tasks_setup(retrain_cron=retrain_cron)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for task in tasks:
            state = "created" if task.created else "exists, left as it is"
            self.stdout.write(f"{task.name}: {task.schedule} ({state})")
