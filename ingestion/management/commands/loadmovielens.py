"""``manage.py loadmovielens PATH``: load any MovieLens release (folder or zip)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ingestion.management.commands.loadml100k import loaded_counts, run_import
from ingestion.models import DatasetImport


class Command(BaseCommand):
    help = (
        "Load a MovieLens release: ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-32m, ml-latest "
        "or ml-latest-small, from its folder or its published zip (the layout is told by the "
        "files). One transaction; re-running is safe; any malformed line aborts the load."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The release's folder or zip file.")

    def handle(self, *args: Any, **options: Any) -> None:
        record = run_import(
            "loadmovielens", source=DatasetImport.Source.RELEASE, path=options["path"]
        )
        self.stdout.write(self.style.SUCCESS(f"Loaded {record.location}: {loaded_counts(record)}"))
