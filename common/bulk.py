"""Set-based upserts of a pandas frame into a table, one round trip per batch.

Django's ``bulk_create(update_conflicts=True)`` builds one model instance per row and cannot
tell how many rows really changed. The loader needs both speed at MovieLens-25M scale and
"created / updated / unchanged" counts, so it writes with the database's own tools: the
frame goes into a temporary staging table (PostgreSQL: ``COPY``; SQLite: ``executemany``),
then one ``INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE <changed>`` moves it over.

Unchanged rows are never rewritten, so a repeated load touches nothing. Columns listed in
``epoch_columns`` carry unix seconds and are converted to timestamps by the database.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd
from django.db import connection
from django.db.backends.utils import CursorWrapper

BATCH_ROWS = 20_000

OnBatch = Callable[[int], None]


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int
    #: Distinct values of the ``report`` column among the created and updated rows.
    changed: frozenset = field(default_factory=frozenset)


class UnsupportedDatabase(RuntimeError):
    pass


def upsert_frame(
    table: str,
    frame: pd.DataFrame,
    *,
    key: Sequence[str],
    epoch_columns: Sequence[str] = (),
    only_newer: str | None = None,
    report: str | None = None,
    on_batch: OnBatch | None = None,
) -> UpsertCounts:
    """Insert or update ``frame`` (columns named as the table's columns) into ``table``.

    Must run inside a transaction. With ``only_newer`` (a timestamp column), an existing
    row is updated only when the frame's value of that column is not older than the
    stored one: a row changed since by someone else wins over an older file. With
    ``report`` (a column), the counts carry the distinct values of that column among the
    rows really written. ``on_batch`` is called with the number of rows of each batch
    staged, for progress bars.
    """
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise UnsupportedDatabase(
            f"bulk loading supports PostgreSQL and SQLite, not {connection.display_name}"
        )
    quote = connection.ops.quote_name
    columns, epochs = list(frame.columns), set(epoch_columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        before = cursor.fetchone()[0]
        stage = _stage_postgresql if vendor == "postgresql" else _stage_sqlite
        staging = stage(cursor, table, frame, epochs, on_batch)
        converted = ", ".join(_from_epoch(quote(c)) if c in epochs else quote(c) for c in columns)
        # "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT.
        insert = (
            f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
            f"SELECT {converted} FROM {staging} WHERE true "
            f"{_conflict_clause(table, columns, list(key), only_newer)}"
        )
        written, changed = _insert(cursor, insert, report)
        cursor.execute(f"DROP TABLE {staging}")
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        created = cursor.fetchone()[0] - before
    return UpsertCounts(created=created, updated=written - created, changed=changed)


_DISTINCT = {"postgresql": "IS DISTINCT FROM", "sqlite": "IS NOT"}


def _from_epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"to_timestamp({column})"
    return f"datetime({column}, 'unixepoch')"


def _conflict_clause(table: str, columns: list[str], key: list[str], only_newer: str | None) -> str:
    quote = connection.ops.quote_name
    distinct = _DISTINCT[connection.vendor]
    updated = [c for c in columns if c not in key]
    if not updated:
        return f"ON CONFLICT ({', '.join(map(quote, key))}) DO NOTHING"
    assignments = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updated)
    changed = " OR ".join(
        f"{quote(table)}.{quote(c)} {distinct} excluded.{quote(c)}" for c in updated
    )
    if only_newer is not None:
        # SQLite compares the texts Django and datetime() both write, "YYYY-MM-DD HH:MM:SS[.f]".
        changed = (
            f"({changed}) AND excluded.{quote(only_newer)} >= {quote(table)}.{quote(only_newer)}"
        )
    return f"ON CONFLICT ({', '.join(map(quote, key))}) DO UPDATE SET {assignments} WHERE {changed}"


def _insert(cursor: CursorWrapper, insert: str, report: str | None) -> tuple[int, frozenset]:
    """Run the INSERT; the number of rows written, and the reported column's values."""
    if report is None:
        cursor.execute(insert)
        return cursor.rowcount, frozenset()
    column = connection.ops.quote_name(report)
    if connection.vendor == "postgresql":
        # Grouped in the database: a 25M-row load returns one row per distinct value.
        cursor.execute(
            f"WITH written AS ({insert} RETURNING {column}) "
            f"SELECT {column}, COUNT(*) FROM written GROUP BY {column}"
        )
        rows = cursor.fetchall()
        return sum(count for _, count in rows), frozenset(value for value, _ in rows)
    cursor.execute(f"{insert} RETURNING {column}")
    values = [value for (value,) in cursor.fetchall()]
    return len(values), frozenset(values)


def _batches(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), BATCH_ROWS):
        yield frame.iloc[start : start + BATCH_ROWS]


def _stage_sqlite(
    cursor: CursorWrapper,
    table: str,
    frame: pd.DataFrame,
    epoch_columns: set[str],
    on_batch: OnBatch | None,
) -> str:
    """A temporary table holding ``frame``; returns its quoted name."""
    quote = connection.ops.quote_name
    columns = ", ".join(map(quote, frame.columns))
    staging = quote(f"staging_{table}")
    # Epoch columns take the target's NUMERIC affinity, so unix seconds stay numbers.
    cursor.execute(
        f"CREATE TEMPORARY TABLE {staging} AS SELECT {columns} FROM {quote(table)} WHERE 0"
    )
    sql = f"INSERT INTO {staging} ({columns}) VALUES ({', '.join(['%s'] * len(frame.columns))})"
    for batch in _batches(frame):
        cursor.executemany(sql, _python_rows(batch))
        if on_batch:
            on_batch(len(batch))
    return staging


def _stage_postgresql(
    cursor: CursorWrapper,
    table: str,
    frame: pd.DataFrame,
    epoch_columns: set[str],
    on_batch: OnBatch | None,
) -> str:
    """A temporary table filled by ``COPY`` with ``frame``; returns its quoted name."""
    quote = connection.ops.quote_name
    columns = list(frame.columns)
    staging = quote(f"staging_{table}")
    # The staging table borrows the target's column types, except epoch columns which
    # arrive as numbers and become timestamps in the INSERT … SELECT.
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
    return staging


def _python_rows(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples of plain Python values (None for missing), as DB-API drivers want."""
    columns = [
        frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns
    ]
    return list(zip(*columns, strict=True))
