"""``manage.py makemovielens --shape ml-25m --out DIR``: a synthetic data set for benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ingestion.synthetic import SHAPES, Shape, write_synthetic_release


class Command(BaseCommand):
    help = (
        "Write a SYNTHETIC data set in the ml-25m layout (movies.csv, ratings.csv) with the "
        "shape of a real MovieLens release, for scale benchmarks. It is not MovieLens data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="Folder to write into.")
        parser.add_argument("--shape", choices=sorted(SHAPES), help="Counts of a real release.")
        parser.add_argument("--users", type=int, help="Users (instead of --shape).")
        parser.add_argument("--movies", type=int, help="Movies (instead of --shape).")
        parser.add_argument("--ratings", type=int, help="Ratings (instead of --shape).")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")

    def handle(self, *args: Any, **options: Any) -> None:
        shape = self._shape(options)
        with tqdm(
            total=shape.ratings,
            unit=" ratings",
            unit_scale=True,
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
        ) as bar:
            try:
                out = write_synthetic_release(
                    options["out"], shape, seed=options["seed"], on_chunk=bar.update
                )
            except (ValueError, OSError) as exc:
                raise CommandError(f"makemovielens failed: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote a synthetic data set to {out}: {shape.users:,} users, "
                f"{shape.movies:,} movies, {shape.ratings:,} ratings (ml-25m layout)"
            )
        )

    @staticmethod
    def _shape(options: dict[str, Any]) -> Shape:
        custom = [options[name] for name in ("users", "movies", "ratings")]
        if options["shape"] and any(value is not None for value in custom):
            raise CommandError("give either --shape or --users/--movies/--ratings")
        if options["shape"]:
            return SHAPES[options["shape"]]
        if any(value is None or value < 1 for value in custom):
            raise CommandError("give --shape, or all of --users, --movies and --ratings (> 0)")
        return Shape(*custom)
