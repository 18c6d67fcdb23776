"""No lost writes: ratings posted concurrently to gunicorn are each stored exactly once.

Several client threads post over token authentication to a gunicorn with three worker
processes and production settings: new viewers (some created by several requests at
once), the same (viewer, movie) pair written by every thread at the same moment, and
sequences of updates whose last value must win. PostgreSQL runs it on the test database;
SQLite on a file of its own (writers queue on its lock; the settings open every
transaction with BEGIN IMMEDIATE, so none fails).
"""

from __future__ import annotations

import collections
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from api_clients import ingestion_client
from django.core.management import call_command
from django.db import connection
from rest_framework.authtoken.models import Token
from servers import (
    REPO,
    database_url,
    fetch,
    free_port,
    production_env,
    running,
    uses_postgresql,
    wait_for_http,
)

THREADS = 8
MOVIES = (1, 2, 3, 4)  # the tiny data set's catalogue
SHARED_VIEWERS = (1, 2, 50_000)  # 50,000 is new: several threads create it at once


def workload() -> list[list[tuple[int, int, int]]]:
    """One list of (user_id, item_id, rating) per thread, sent in that order."""
    plans = []
    for thread in range(THREADS):
        plan = []
        # The same pairs, written by every thread at about the same time.
        plan += [(viewer, movie, 1 + thread % 5) for viewer in SHARED_VIEWERS for movie in MOVIES]
        # New viewers of this thread only, one rating per movie.
        plan += [
            (10_000 + 100 * thread + n, movie, 1 + n % 5) for n in range(5) for movie in MOVIES
        ]
        # A pair of this thread's own, updated five times: the last value (5) must win.
        plan += [(20_000 + thread, 1, value) for value in (3, 1, 4, 2, 5)]
        plans.append(plan)
    return plans


def stored_ratings(db: str) -> list[tuple[int, int, int]]:
    query = "SELECT viewer_id, movie_id, score FROM ingestion_rating"
    if db.startswith("sqlite:///"):
        with sqlite3.connect(db.removeprefix("sqlite:///")) as sqlite:
            return sqlite.execute(query).fetchall()
    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


@pytest.fixture
def server_database(transactional_db, tmp_path: Path, tiny_dir: Path) -> tuple[str, str]:
    """A database holding the tiny data set and an API token: (URL, token)."""
    if uses_postgresql():
        call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
        return database_url(), Token.objects.create(user=ingestion_client("loader")).key
    url = f"sqlite:///{tmp_path / 'writes.sqlite3'}"
    env = production_env(DATABASE_URL=url, DJANGO_SUPERUSER_PASSWORD="pw")
    for args in (
        ["migrate", "--noinput"],
        ["loadml100k", "--path", str(tiny_dir)],
        ["createsuperuser", "--noinput", "--username", "loader", "--email", "l@example.com"],
    ):
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True,
            capture_output=True, timeout=300,
        )  # fmt: skip
    token = subprocess.run(
        [sys.executable, "manage.py", "drf_create_token", "loader"], cwd=REPO, env=env,
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout.split()[2]  # fmt: skip
    return url, token


def test_concurrent_ratings_are_each_stored_exactly_once(
    server_database: tuple[str, str], tmp_path: Path
) -> None:
    url, token = server_database
    before = {(v, m): s for v, m, s in stored_ratings(url)}
    port, log = free_port(), tmp_path / "gunicorn.log"
    env = production_env(DATABASE_URL=url)
    command = ["gunicorn", "videorec_site.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3"]
    plans = workload()
    answers: list[tuple[tuple[int, int, int], int]] = []
    lock, start = threading.Lock(), threading.Barrier(THREADS)

    def post(plan: list[tuple[int, int, int]]) -> None:
        start.wait()
        for user_id, item_id, rating in plan:
            status, _, _ = fetch(
                f"http://127.0.0.1:{port}/api/ratings/",
                method="POST",
                body={"user_id": user_id, "item_id": item_id, "rating": rating},
                headers={"Authorization": f"Token {token}"},
            )
            with lock:
                answers.append(((user_id, item_id, rating), status))

    with running(command, env, log) as server:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", server, log)
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(post, plans))

    sent = [write for plan in plans for write in plan]
    assert len(answers) == len(sent) == THREADS * (len(SHARED_VIEWERS) * 4 + 20 + 5)
    assert {status for _, status in answers} <= {200, 201}, collections.Counter(
        status for _, status in answers
    )
    rows = stored_ratings(url)
    counts = collections.Counter((viewer, movie) for viewer, movie, _ in rows)
    assert max(counts.values()) == 1  # no pair stored twice (the unique constraint holds)
    stored = {(viewer, movie): score for viewer, movie, score in rows}
    written: dict[tuple[int, int], set[int]] = collections.defaultdict(set)
    for user_id, item_id, rating in sent:
        written[(user_id, item_id)].add(rating)
    # Every pair written is there, nothing else appeared, and nothing old vanished.
    assert set(stored) == set(before) | set(written)
    for pair, values in written.items():
        assert stored[pair] in values, pair
    # Exactly one request created each pair that did not exist; all others updated it.
    created = collections.Counter((u, i) for (u, i, _), status in answers if status == 201)
    assert created == collections.Counter({pair: 1 for pair in written if pair not in before})
    # Sequential updates: the last value wins.
    for thread in range(THREADS):
        assert stored[(20_000 + thread, 1)] == 5
    assert "Traceback" not in log.read_text()
