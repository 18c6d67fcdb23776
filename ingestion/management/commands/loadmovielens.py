"""``manage.py loadmovielens PATH``: load any MovieLens release (folder or zip)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.management.commands.loadml100k import TqdmProgress
from ingestion.models import DatasetImport
from ingestion.services import DatasetImportError, movielens_import


class Command(BaseCommand):
    help = (
        "Load a MovieLens release: ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-32m, ml-latest "
        "or ml-latest-small, from its folder or its published zip (the layout is told by the "
        "files). One transaction; re-running is safe; any malformed line aborts the load."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The release's folder or zip file.")

    def handle(self, *args: Any, **options: Any) -> None:
        progress = TqdmProgress(sys.stderr)
        try:
            record = movielens_import(
                source=DatasetImport.Source.RELEASE, path=options["path"], progress=progress
            )
        except DatasetImportError as exc:
            raise CommandError(f"loadmovielens failed: {exc}") from None
        finally:
            progress.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {record.location}: {record.genres_read} genres, "
                f"{record.movies_read:,} movies, {record.viewers_read:,} viewers, "
                f"{record.ratings_read:,} ratings ({record.ratings_created:,} new, "
                f"{record.ratings_updated:,} updated) in {record.seconds:.1f} s"
            )
        )
