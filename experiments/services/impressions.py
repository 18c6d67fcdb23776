"""Recording what ``/recommend`` served, in bulk and off the request path.

A request only appends a tuple to this process's buffer; a daemon thread writes the
buffer with one prepared ``INSERT`` (``executemany``, one transaction) every
``VIDEOREC_IMPRESSION_FLUSH_SECONDS``, or sooner once
``VIDEOREC_IMPRESSION_BATCH`` rows wait, and once more when the process exits.

Why in-process rather than a Redis list drained by Celery: it needs no broker, so the
embedded default (SQLite, no Redis, eager Celery) records impressions exactly as
production does; a batch of a few hundred rows is one statement either way. The price is
that a process killed without warning (SIGKILL, out of memory) loses at most one flush
interval of its impressions; a database error is retried with the next flush, and
rows beyond ``MAX_BUFFERED`` are dropped and counted (``videorec_impressions_lost``)
rather than let memory grow while the database is away. With
``VIDEOREC_IMPRESSION_FLUSH_SECONDS=0`` every impression is written during its request
(the test settings: tests then read them at once).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from ..metrics import IMPRESSIONS_LOST, IMPRESSIONS_WRITTEN
from ..models import Impression

logger = logging.getLogger(__name__)

#: Rows kept while the database refuses them, in multiples of the batch size.
MAX_BUFFERED_BATCHES = 20
#: The flusher never loops faster than this (the interval may be set to 0 meanwhile).
MIN_FLUSH_SECONDS = 0.1


class ServedList(NamedTuple):
    request_id: uuid.UUID
    viewer_id: int
    experiment_id: int | None
    variant_id: int | None
    model_run_id: int | None
    items: list[int]
    credits: list[int] | None
    served_at: dt.datetime


class ImpressionBuffer:
    """This process's impressions waiting to be written (thread-safe)."""

    def __init__(self) -> None:
        self._rows: deque[ServedList] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._owner_pid = 0
        self._thread: threading.Thread | None = None

    def add(self, row: ServedList) -> None:
        if settings.VIDEOREC_IMPRESSION_FLUSH_SECONDS <= 0:
            _write([row])
            return
        self._ensure_flusher()
        self._rows.append(row)
        if len(self._rows) >= settings.VIDEOREC_IMPRESSION_BATCH:
            self._wake.set()

    def flush(self) -> int:
        """Write every waiting impression now; returns how many were written."""
        with self._lock:
            rows = [self._rows.popleft() for _ in range(len(self._rows))]
            if not rows:
                return 0
            try:
                return _write(rows)
            except DatabaseError as exc:
                self._keep(rows, exc)
                return 0

    def _keep(self, rows: Sequence[ServedList], exc: DatabaseError) -> None:
        room = MAX_BUFFERED_BATCHES * settings.VIDEOREC_IMPRESSION_BATCH - len(self._rows)
        kept = list(rows)[: max(room, 0)]
        self._rows.extendleft(reversed(kept))
        lost = len(rows) - len(kept)
        IMPRESSIONS_LOST.inc(lost)
        logger.error(
            "impressions not written (%s): %d kept for the next flush, %d dropped",
            exc,
            len(kept),
            lost,
        )
        # A broken connection is opened afresh by the next flush (the flusher thread's
        # own; a caller's open transaction is left to the caller).
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()

    def _ensure_flusher(self) -> None:
        pid = os.getpid()
        if self._owner_pid == pid:
            return
        with self._lock:
            if self._owner_pid == pid:
                return
            # In a forked child the parent's rows are the parent's to write.
            self._rows.clear()
            self._thread = threading.Thread(
                target=self._flush_forever, name="impression-flusher", daemon=True
            )
            self._thread.start()
            self._owner_pid = pid

    def _flush_forever(self) -> None:
        while True:
            self._wake.wait(max(settings.VIDEOREC_IMPRESSION_FLUSH_SECONDS, MIN_FLUSH_SECONDS))
            self._wake.clear()
            self.flush()


def _write(rows: Sequence[ServedList]) -> int:
    """One prepared INSERT executed for every row, in one transaction.

    About twice as cheap per row as ``bulk_create``, which compiles its SQL row by row:
    this runs in the web process, beside the requests. A request id already written (a
    retried flush) is skipped (``ON CONFLICT DO NOTHING``: PostgreSQL and SQLite).
    """
    fields = [Impression._meta.get_field(name) for name in ServedList._fields]
    table = connection.ops.quote_name(Impression._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, row, strict=True)
        ]
        for row in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",  # noqa: S608
            values,
        )
    IMPRESSIONS_WRITTEN.inc(len(rows))
    return len(rows)


_buffer = ImpressionBuffer()
atexit.register(_buffer.flush)


def impression_record(row: ServedList) -> None:
    """Record one served list (buffered; see the module docstring)."""
    _buffer.add(row)


def impressions_flush() -> int:
    """Write this process's waiting impressions now (results read after this)."""
    return _buffer.flush()
