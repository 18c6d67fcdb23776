"""``manage.py waitfordb``: block until the database accepts connections (container start)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError, connection


class Command(BaseCommand):
    help = "Wait until the database accepts connections; exit 1 after --timeout seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between tries")

    def handle(self, *args: Any, timeout: float, interval: float, **options: Any) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection.ensure_connection()
            except OperationalError as exc:
                connection.close()
                if time.monotonic() >= deadline:
                    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc
                    raise CommandError(
                        f"the database did not answer within {timeout:g} s: {first_line}"
                    ) from exc
                time.sleep(interval)
            else:
                connection.close()
                self.stdout.write(f"database {connection.settings_dict['NAME']} is up")
                return
