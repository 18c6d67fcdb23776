"""``manage.py refreshdataoverview``: aggregate the dashboard's data overview again.

Every load does it; run this (e.g. nightly) when ratings arrive through the API on a
table large enough for the dashboard to show the stored snapshot.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ingestion.services import data_overview_refresh


class Command(BaseCommand):
    help = "Aggregate the dashboard's data overview and store it."

    def handle(self, *args: Any, **options: Any) -> None:
        snapshot = data_overview_refresh()
        self.stdout.write(f"Data overview stored at {snapshot.computed_at:%Y-%m-%d %H:%M:%S}.")
