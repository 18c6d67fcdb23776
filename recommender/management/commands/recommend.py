"""``manage.py recommend``: one viewer's recommendations, or a TSV for every viewer.

Both go through the serving service that the ``/recommend`` endpoint uses.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.models import Viewer
from recommender.services.serving import MAX_TOPK, recommendations_for_viewers


class Command(BaseCommand):
    help = "Recommend movies for one viewer, or for every viewer into a TSV file (--all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user_id", nargs="?", type=int, help="MovieLens user id")
        parser.add_argument("--topk", type=int, default=10, help=f"1–{MAX_TOPK} (default 10)")
        parser.add_argument("--all", action="store_true", help="every viewer (needs --output)")
        parser.add_argument("--output", type=Path, help="TSV file: user_id item_id rank score")

    def handle(self, *args: Any, user_id: int | None, topk: int, **options: Any) -> None:
        if not 1 <= topk <= MAX_TOPK:
            raise CommandError(f"--topk must be between 1 and {MAX_TOPK}, got {topk}")
        if options["all"]:
            if user_id is not None or options["output"] is None:
                raise CommandError("use either USER_ID or --all --output FILE.tsv")
            self._export(topk, options["output"])
            return
        if user_id is None:
            raise CommandError("give a USER_ID, or --all --output FILE.tsv")
        (result,) = recommendations_for_viewers(viewer_ids=[user_id], topk=topk)
        run = f"model run {result.model_run}" if result.model_run else "no model yet: popularity"
        cold = ", cold start" if result.cold_start else ""
        self.stdout.write(f"Viewer {user_id} ({run}{cold}):")
        for rank, item in enumerate(result.recommendations, start=1):
            reasons = "; ".join(reason.text for reason in item.reasons)
            self.stdout.write(
                f"{rank:>3}. {item.title} [{item.item_id}]  {item.score:.4f}  {reasons}"
            )

    def _export(self, topk: int, output: Path) -> None:
        viewer_ids = list(Viewer.objects.order_by("id").values_list("id", flat=True))
        results = recommendations_for_viewers(viewer_ids=viewer_ids, topk=topk, all_viewers=True)
        try:
            with output.open("w", newline="") as handle:
                writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
                writer.writerow(["user_id", "item_id", "rank", "score"])
                for result in results:
                    for rank, item in enumerate(result.recommendations, start=1):
                        writer.writerow([result.user_id, item.item_id, rank, f"{item.score:.6f}"])
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc}") from None
        rows = sum(len(result.recommendations) for result in results)
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {rows:,} recommendations for {len(results):,} viewers to {output}"
            )
        )
