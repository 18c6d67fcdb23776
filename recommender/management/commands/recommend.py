"""``manage.py recommend``: one viewer's recommendations, or a TSV for every viewer.

Both go through the serving service that the ``/recommend`` endpoint uses; ``--all``
scores chunks of viewers as Celery tasks (in this process without a broker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services.batch import BatchExportError, recommendations_export
from recommender.services.serving import MAX_TOPK, recommendations_for_viewers


class Command(BaseCommand):
    help = "Recommend movies for one viewer, or for every viewer into a TSV file (--all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user_id", nargs="?", type=int, help="MovieLens user id")
        parser.add_argument("--topk", type=int, default=10, help=f"1–{MAX_TOPK} (default 10)")
        parser.add_argument("--all", action="store_true", help="every viewer (needs --output)")
        parser.add_argument("--output", type=Path, help="TSV file: user_id item_id rank score")
        parser.add_argument(
            "--chunk-size",
            type=int,
            help="viewers per Celery task with --all (default VIDEOREC_BATCH_CHUNK_SIZE)",
        )

    def handle(self, *args: Any, user_id: int | None, topk: int, **options: Any) -> None:
        if not 1 <= topk <= MAX_TOPK:
            raise CommandError(f"--topk must be between 1 and {MAX_TOPK}, got {topk}")
        if options["all"]:
            if user_id is not None or options["output"] is None:
                raise CommandError("use either USER_ID or --all --output FILE.tsv")
            self._export(topk, options["output"], options["chunk_size"])
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

    def _export(self, topk: int, output: Path, chunk_size: int | None) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise CommandError(f"--chunk-size must be at least 1, got {chunk_size}")
        try:
            export = recommendations_export(output=output, topk=topk, chunk_size=chunk_size)
        except BatchExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {export.rows:,} recommendations for {export.viewers:,} viewers "
                f"({export.chunks:,} chunks) to {output}"
            )
        )
