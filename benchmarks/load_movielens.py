"""How fast, and in how much memory, does ``manage.py loadmovielens`` load a release of
ml-1m's shape into PostgreSQL, next to pandas alone reading the same files?

In one run: ``makemovielens --shape ml-1m`` writes the synthetic data set (ml-25m layout);
the reference is a Python process that imports pandas and reads ``movies.csv`` and
``ratings.csv`` with ``pandas.read_csv`` (nothing validated, nothing stored); then the
whole ``loadmovielens`` command (interpreter start included) into a freshly migrated
database, and again into the loaded database (the idempotent re-load). Wall time and the
peak resident memory of each process (``ru_maxrss`` of the child) are reported, and the
"Loading a MovieLens release" section of ``docs/benchmarks.md`` is rewritten with
``--write``.

With ``--compare DIR`` the first load is also timed with the code of another checkout
(e.g. the previous loader: ``git archive <commit> | tar -x -C DIR``), in the same run, into
a freshly migrated database each time. ``--folder`` reuses a data set written before
(``makemovielens`` of ml-25m's shape takes minutes); ``--repeat 1`` suits the big shapes.

Usage::

    .venv/bin/python benchmarks/load_movielens.py \
        --postgres postgres://postgres@127.0.0.1:5432/videorec_formats [--shape ml-1m] [--write] \
        [--compare DIR] [--folder DIR] [--repeat N]

The database named in ``--postgres`` is dropped and created again: give one of your own.
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
from pathlib import Path

from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent

PANDAS_ONLY = """
import sys
import pandas as pd
folder = sys.argv[1]
pd.read_csv(f"{folder}/movies.csv")
pd.read_csv(f"{folder}/ratings.csv")
"""


def measured(command: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and standard output of one child process."""
    start = time.perf_counter()
    with subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True) as child:
        output = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode})")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, output


def median_of(runs: list[tuple[float, float, str]]) -> tuple[float, float, str]:
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        runs[-1][2],
    )


def manage(*args: str, tree: Path = REPO) -> list[str]:
    return [sys.executable, str(tree / "manage.py"), *args]


def environment(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DATABASE_URL": database_url,
    }


def recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def first_loads(url: str, folder: Path, repeat: int, tree: Path = REPO) -> tuple[float, float, str]:
    """Median of ``repeat`` loads with ``tree``'s code, each into a new, migrated database."""
    env = environment(url)
    fresh = []
    for _ in range(repeat):
        recreate_database(url)
        subprocess.run(manage("migrate", "-v0", tree=tree), env=env, cwd=tree, check=True)
        fresh.append(measured(manage("loadmovielens", str(folder), tree=tree), env, tree))
    return median_of(fresh)


def bench(
    url: str, shape: str, repeat: int, folder: Path, compare: Path | None
) -> dict[str, tuple[float, float, str]]:
    env = environment(url)
    results = {}
    if not (folder / "ratings.csv").exists():
        command = manage("makemovielens", "--shape", shape, "--out", str(folder))
        results["make"] = measured(command, env)
    results["pandas"] = median_of(
        [measured([sys.executable, "-c", PANDAS_ONLY, str(folder)], env) for _ in range(repeat)]
    )
    if compare is not None:
        results["before"] = first_loads(url, folder, repeat, compare)
    results["fresh"] = first_loads(url, folder, repeat)
    results["reload"] = median_of(
        [measured(manage("loadmovielens", str(folder)), env) for _ in range(repeat)]
    )
    return results


def render(results: dict[str, tuple[float, float, str]], shape: str, repeat: int) -> str:
    pandas_s, pandas_mb, _ = results["pandas"]
    summary = re.search(r": (.*) in [\d.]+ s", results["fresh"][2])
    rows = [
        "| Measurement | Wall (s) | Peak RSS (MB) | vs pandas |",
        "| --- | ---: | ---: | ---: |",
    ]
    for title, key in [
        ("pandas alone: `read_csv` of movies.csv and ratings.csv (the floor)", "pandas"),
        ("`loadmovielens DIR`, empty PostgreSQL database, previous code (--compare)", "before"),
        ("`loadmovielens DIR`, empty PostgreSQL database", "fresh"),
        ("`loadmovielens DIR`, data already loaded (re-load)", "reload"),
        (f"`makemovielens --shape {shape}` (writing the files, once)", "make"),
    ]:
        if key not in results:
            continue
        wall, rss, _ = results[key]
        rows.append(f"| {title} | {wall:.1f} | {rss:.0f} | {wall / pandas_s:.1f}× |")
    return "\n".join(
        [
            f"Machine: {machine_description()}. Synthetic data set of {shape}'s shape "
            "(`makemovielens`, ml-25m layout; not MovieLens data). Medians of "
            f"{repeat} runs; every figure is a whole process, interpreter start included; "
            "peak RSS is the process's own (PostgreSQL's server memory is not counted).",
            "",
            *rows,
            "",
            f"- Loaded: {summary.group(1) if summary else 'see the command output'}.",
            f"- pandas holds the whole file ({pandas_mb:.0f} MB peak); the loader streams the "
            "ratings in validated chunks of 1,000,000 rows, all in one transaction: into an "
            "empty table by `COPY … FREEZE` with its indexes and constraints rebuilt at the "
            "end, else each chunk sent with COPY to a staging table and upserted.",
            "",
            "Command: `.venv/bin/python benchmarks/load_movielens.py --postgres "
            f"postgres://postgres@127.0.0.1:5432/videorec_formats --shape {shape} --write`",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="URL of a database of your own")
    parser.add_argument("--shape", default="ml-1m", choices=["ml-1m", "ml-10m", "ml-25m"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    parser.add_argument("--compare", type=Path, help="another checkout, timed in the same run")
    parser.add_argument("--folder", type=Path, help="a data set written before (kept)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or Path(scratch) / args.shape
        results = bench(args.postgres, args.shape, args.repeat, folder, args.compare)
    section = render(results, args.shape, args.repeat)
    section += (
        "\n\nLoad average (1/5/15 min) at start {}, at end {}: the machine is shared.".format(
            "/".join(f"{v:.1f}" for v in load_before), "/".join(f"{v:.1f}" for v in os.getloadavg())
        )
    )
    print(section)
    if args.write:
        write_section(
            "load-movielens" if args.shape == "ml-1m" else f"load-movielens-{args.shape}",
            f"Loading a MovieLens release ({args.shape} shape)",
            section,
        )


if __name__ == "__main__":
    main()
