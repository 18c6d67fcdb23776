"""``manage.py loadml100k``: load MovieLens-100k (idempotent, atomic, with progress)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ingestion.models import DatasetImport
from ingestion.services import DatasetImportError, movielens_import

Source = DatasetImport.Source


class TqdmProgress:
    """One progress bar per stage, shown only on a terminal."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._bar: tqdm | None = None

    def begin(self, stage: str, total: int | None) -> None:
        self.close()
        self._bar = tqdm(
            total=total or None,
            desc=f"{stage:>8}",
            unit=" rows",
            unit_scale=True,
            file=self._stream,
            disable=not self._stream.isatty(),
            leave=False,
        )

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_import(command: str, *, source: str, path: Path | None) -> DatasetImport:
    """``movielens_import`` with a progress display; a failure is the command's one line."""
    progress = TqdmProgress(sys.stderr)
    try:
        return movielens_import(source=source, path=path, progress=progress)
    except DatasetImportError as exc:
        raise CommandError(f"{command} failed: {exc}") from None
    finally:
        progress.close()


def loaded_counts(record: DatasetImport) -> str:
    return (
        f"{record.genres_read} genres, {record.movies_read:,} movies, "
        f"{record.viewers_read:,} viewers, {record.ratings_read:,} ratings "
        f"({record.ratings_created:,} new, {record.ratings_updated:,} updated) "
        f"in {record.seconds:.1f} s"
    )


class Command(BaseCommand):
    help = (
        "Load MovieLens-100k (genres, movies, viewers, ratings). Re-running is safe: rows are "
        "inserted or updated, never duplicated. Any malformed line aborts the whole load."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--path", type=Path, help="GroupLens folder holding u.data, u.item and u.user."
        )
        where.add_argument("--zip", type=Path, help="The published ml-100k.zip.")
        parser.add_argument(
            "--source",
            choices=[choice.value for choice in Source],
            help=(
                "Where to read from. auto (default): data/ml-100k/ if present, else the "
                "GroupLens download, else the recbole wheel on PyPI (downloads are cached)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source, path = self._source(options)
        record = run_import("loadml100k", source=source, path=path)
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded MovieLens-100k from {record.get_source_display()} ({record.location}): "
                f"{loaded_counts(record)}"
            )
        )

    @staticmethod
    def _source(options: dict[str, Any]) -> tuple[str, Path | None]:
        source = options["source"]
        if options["path"] is not None:
            if source not in (None, Source.PATH):
                raise CommandError(
                    f"--path reads a GroupLens folder; it cannot be combined with --source {source}"
                )
            return Source.PATH, options["path"]
        if options["zip"] is not None:
            if source not in (None, Source.ZIP):
                raise CommandError(
                    f"--zip reads ml-100k.zip; it cannot be combined with --source {source}"
                )
            return Source.ZIP, options["zip"]
        if source == Source.ZIP:
            raise CommandError("--source zip needs --zip FILE")
        return source or Source.AUTO, None
