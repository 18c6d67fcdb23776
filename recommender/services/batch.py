"""Batch scoring: every viewer's recommendations, fanned out over Celery workers.

The viewers are split into chunks of ``VIDEOREC_BATCH_CHUNK_SIZE`` ids; each chunk is one
task (``recommender.recommend_chunk``, which calls :func:`recommendations_chunk`) of a
Celery group, so N workers on any hosts score N chunks at once. The caller collects the
group's results in chunk order and writes them itself: the output file is on the
caller's machine, not on the workers'. Without a broker (``CELERY_TASK_ALWAYS_EAGER``)
the group runs chunk after chunk in the calling process, with the same result.

Tasks are looked up by their registered name, as in :mod:`.retrain`, so services never
import the Celery entry points that call them.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from celery import current_app, group
from django.conf import settings

from ingestion.models import Viewer

from .serving import recommendations_for_viewers

logger = logging.getLogger(__name__)

#: Name of the Celery task scoring one chunk (``recommender.tasks.recommend_chunk``).
CHUNK_TASK = "recommender.recommend_chunk"
TSV_HEADER = ("user_id", "item_id", "rank", "score")
#: How long the caller waits for the whole group before giving up.
BATCH_TIMEOUT_SECONDS = 6 * 3600


class BatchExportError(Exception):
    """The export could not be written (the reason is in the message)."""


@dataclass(frozen=True)
class BatchExport:
    viewers: int
    rows: int
    chunks: int


def recommendations_chunk(*, viewer_ids: list[int], topk: int) -> list[list[int | str]]:
    """The TSV rows (``user_id, item_id, rank, score``) of these viewers, in their order.

    Rows are plain JSON values: they travel back from a worker through the result backend.
    """
    results = recommendations_for_viewers(viewer_ids=viewer_ids, topk=topk)
    return [
        [result.user_id, item.item_id, rank, f"{item.score:.6f}"]
        for result in results
        for rank, item in enumerate(result.recommendations, start=1)
    ]


def viewer_chunks(*, chunk_size: int) -> Iterator[list[int]]:
    """Every viewer id in ascending order, ``chunk_size`` at a time."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    ids = list(Viewer.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), chunk_size):
        yield ids[start : start + chunk_size]


def recommendations_export(
    *, output: Path, topk: int, chunk_size: int | None = None
) -> BatchExport:
    """Score every viewer as a Celery group of chunks and write one TSV, in viewer order.

    The file is written to a temporary name next to ``output`` and renamed once complete:
    a failed chunk or an unwritable folder leaves no partial file (and ``output`` as it was).
    """
    chunks = list(viewer_chunks(chunk_size=chunk_size or settings.VIDEOREC_BATCH_CHUNK_SIZE))
    task = current_app.signature(CHUNK_TASK)
    jobs = group(task.clone(kwargs={"viewer_ids": ids, "topk": topk}) for ids in chunks)
    logger.info("batch scoring: %d viewers in %d chunks", sum(map(len, chunks)), len(chunks))
    # A group's results come back in the order of its tasks, whichever worker ran them.
    parts = jobs.apply_async().get(timeout=BATCH_TIMEOUT_SECONDS) if chunks else []
    rows = _written(output, parts)
    return BatchExport(viewers=sum(map(len, chunks)), rows=rows, chunks=len(chunks))


def _written(output: Path, parts: list[list[list[int | str]]]) -> int:
    partial = output.with_name(f".{output.name}.partial")
    try:
        with partial.open("w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(TSV_HEADER)
            for part in parts:
                writer.writerows(part)
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BatchExportError(f"cannot write {output}: {exc}") from None
    return sum(map(len, parts))
