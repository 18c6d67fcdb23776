"""Set-based upserts of a pandas frame into a table, one round trip per batch.

Django's ``bulk_create(update_conflicts=True)`` builds one model instance per row and cannot
tell how many rows really changed. The loader needs both speed at MovieLens-25M scale and
"created / updated / unchanged" counts, so it writes with the database's own tools:

* PostgreSQL: ``COPY`` into a temporary staging table, then one
  ``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE IS DISTINCT FROM``.
* SQLite: ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE … WHERE … IS NOT …``.

Unchanged rows are never rewritten, so a repeated load touches nothing. Columns listed in
``epoch_columns`` carry unix seconds and are converted to timestamps by the database.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
from django.db import connection
from django.db.backends.utils import CursorWrapper

BATCH_ROWS = 20_000

OnBatch = Callable[[int], None]


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int


class UnsupportedDatabase(RuntimeError):
    pass


def upsert_frame(
    table: str,
    frame: pd.DataFrame,
    *,
    key: Sequence[str],
    epoch_columns: Sequence[str] = (),
    on_batch: OnBatch | None = None,
) -> UpsertCounts:
    """Insert or update ``frame`` (columns named as the table's columns) into ``table``.

    Must run inside a transaction. ``on_batch`` is called with the number of rows of each
    batch written, for progress bars.
    """
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise UnsupportedDatabase(
            f"bulk loading supports PostgreSQL and SQLite, not {connection.display_name}"
        )
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        before = cursor.fetchone()[0]
        write = _upsert_postgresql if vendor == "postgresql" else _upsert_sqlite
        conflict = _conflict_clause(table, list(frame.columns), list(key))
        written = write(cursor, table, frame, conflict, set(epoch_columns), on_batch)
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        created = cursor.fetchone()[0] - before
    return UpsertCounts(created=created, updated=written - created)


_DISTINCT = {"postgresql": "IS DISTINCT FROM", "sqlite": "IS NOT"}


def _conflict_clause(table: str, columns: list[str], key: list[str]) -> str:
    quote = connection.ops.quote_name
    distinct = _DISTINCT[connection.vendor]
    updated = [c for c in columns if c not in key]
    if not updated:
        return f"ON CONFLICT ({', '.join(map(quote, key))}) DO NOTHING"
    assignments = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updated)
    changed = " OR ".join(
        f"{quote(table)}.{quote(c)} {distinct} excluded.{quote(c)}" for c in updated
    )
    return f"ON CONFLICT ({', '.join(map(quote, key))}) DO UPDATE SET {assignments} WHERE {changed}"


def _batches(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), BATCH_ROWS):
        yield frame.iloc[start : start + BATCH_ROWS]


def _upsert_sqlite(
    cursor: CursorWrapper,
    table: str,
    frame: pd.DataFrame,
    conflict: str,
    epoch_columns: set[str],
    on_batch: OnBatch | None,
) -> int:
    quote = connection.ops.quote_name
    columns = list(frame.columns)
    placeholders = ", ".join(
        "datetime(%s, 'unixepoch')" if c in epoch_columns else "%s" for c in columns
    )
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
        f"VALUES ({placeholders}) {conflict}"
    )
    written = 0
    for batch in _batches(frame):
        cursor.executemany(sql, _python_rows(batch))
        written += cursor.rowcount
        if on_batch:
            on_batch(len(batch))
    return written


def _upsert_postgresql(
    cursor: CursorWrapper,
    table: str,
    frame: pd.DataFrame,
    conflict: str,
    epoch_columns: set[str],
    on_batch: OnBatch | None,
) -> int:
    quote = connection.ops.quote_name
    columns = list(frame.columns)
    staging = quote(f"staging_{table}")
    # The staging table borrows the target's column types, except epoch columns which
    # arrive as numbers and become timestamps in the INSERT … SELECT below.
    cursor.execute(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)} WITH NO DATA"
    )
    for column in epoch_columns:
        cursor.execute(f"ALTER TABLE {staging} ALTER COLUMN {quote(column)} TYPE bigint USING NULL")
    copy_sql = (
        f"COPY {staging} ({', '.join(map(quote, columns))}) "
        "FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    )
    with cursor.cursor.copy(copy_sql) as copy:
        for batch in _batches(frame):
            buffer = io.StringIO()
            batch.to_csv(buffer, header=False, index=False, na_rep="\\N")
            copy.write(buffer.getvalue())
            if on_batch:
                on_batch(len(batch))
    selected = ", ".join(
        f"to_timestamp({quote(c)})" if c in epoch_columns else quote(c) for c in columns
    )
    cursor.execute(
        f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {selected} FROM {staging} {conflict}"
    )
    written = cursor.rowcount
    cursor.execute(f"DROP TABLE {staging}")
    return written


def _python_rows(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values (None for missing), as DB-API drivers want."""
    columns = [
        frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns
    ]
    return list(zip(*columns, strict=True))
