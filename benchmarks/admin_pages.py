"""How long does each admin page take on a large database (e.g. ml-25m shape, PostgreSQL)?

A logged-in Django test client (in-process: the whole request, middleware, templates and
queries, no HTTP) requests the pages an operator opens at scale: the changelists of
ratings, viewers, movies and item neighbors, a viewer's page (the viewer with the most
ratings up to ``--viewer-ratings``), a movie's page, and the dashboard with a cold cache
(the process's cache is cleared before each dashboard request). Each page is requested
``--repeat`` times; the median and the slowest are reported, with the number of SQL
queries of the last request.

With ``--compare DIR`` the same pages are timed, in the same run, with the code of another
checkout (e.g. ``git archive <commit> | tar -x -C DIR``) against the same database, so
the figures compare code, not machines. The child processes use a local-memory cache and
no broker, so nothing outside the process is touched except the database (read only,
apart from one superuser created for the requests).

Usage::

    .venv/bin/python benchmarks/admin_pages.py \
        --postgres postgres://postgres@127.0.0.1:5432/videorec_h14data [--repeat 5] \
        [--compare /path/to/old/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from report import machine_description

REPO = Path(__file__).resolve().parent.parent

# Runs inside a checkout (the current one, or --compare's), as ``python -c``.
CHILD = r"""
import json, statistics, sys, time
import django
django.setup()
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.contrib.auth import get_user_model

repeat, most, only = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
user, _ = get_user_model().objects.get_or_create(
    username="admin-pages-benchmark", defaults={"is_staff": True, "is_superuser": True}
)
client = Client(HTTP_HOST="localhost")
client.force_login(user)
with connection.cursor() as cursor:
    # The viewer with the most ratings up to ``most`` (one grouped query, before timing).
    cursor.execute(
        "SELECT viewer_id, COUNT(*) FROM ingestion_rating GROUP BY viewer_id "
        "HAVING COUNT(*) <= %s ORDER BY 2 DESC LIMIT 1", [most]
    )
    viewer, viewer_ratings = cursor.fetchone()
    cursor.execute("SELECT movie_id FROM ingestion_rating ORDER BY id LIMIT 1")
    (movie,) = cursor.fetchone()
pages = {
    "ratings changelist": ("/admin/ingestion/rating/", False),
    "ratings changelist, page 100": ("/admin/ingestion/rating/?p=100", False),
    "ratings filtered by score": ("/admin/ingestion/rating/?score__exact=4.5", False),
    "viewers changelist": ("/admin/ingestion/viewer/", False),
    "movies changelist": ("/admin/ingestion/movie/", False),
    "item neighbors changelist": ("/admin/recommender/itemneighbor/", False),
    f"viewer page ({viewer_ratings:,} ratings)": (
        f"/admin/ingestion/viewer/{viewer}/change/", False
    ),
    "movie page": (f"/admin/ingestion/movie/{movie}/change/", False),
    "dashboard, cold cache": ("/admin/dashboard/", True),
}
results = {}
for name, (url, cold) in pages.items():
    if only not in name:
        continue
    seconds = []
    for _ in range(repeat):
        if cold:
            for alias in caches:
                caches[alias].clear()
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(url)
            seconds.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    results[name] = {
        "median": statistics.median(seconds), "max": max(seconds), "queries": len(queries)
    }
print(json.dumps(results))
"""


def timed_pages(
    tree: Path,
    database_url: str,
    repeat: int,
    most: int,
    only: str = "",
    base_env: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Each page's median and slowest seconds and query count; the child process gets
    ``base_env`` (default: this process's environment) with local settings."""
    env = {
        **(os.environ if base_env is None else base_env),
        "PYTHONPATH": str(tree),
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DATABASE_URL": database_url,
        "CACHE_URL": "locmemcache://",
        "CELERY_BROKER_URL": "",
        "DJANGO_DEBUG": "false",
    }
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(repeat), str(most), only],
        env=env,
        cwd=tree,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def render(current: dict[str, dict], before: dict[str, dict] | None, repeat: int) -> str:
    header = "| Page | Median (s) | Slowest (s) | Queries |"
    rule = "| --- | ---: | ---: | ---: |"
    if before is not None:
        header += " Before: median (s) | Before: queries |"
        rule += " ---: | ---: |"
    rows = [header, rule]
    for name, now in current.items():
        row = f"| {name} | {now['median']:.3f} | {now['max']:.3f} | {now['queries']} |"
        if before is not None:
            # Page names carry the viewer's rating count, the same in both runs.
            old = before.get(name)
            row += f" {old['median']:.3f} | {old['queries']} |" if old else " – | – |"
        rows.append(row)
    return "\n".join(
        [
            f"Machine: {machine_description()}. Medians of {repeat} requests per page "
            "(Django test client, logged-in superuser, in-process).",
            "",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="URL of the loaded database")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--viewer-ratings", type=int, default=5000)
    parser.add_argument("--compare", type=Path, help="another checkout, timed in the same run")
    parser.add_argument("--only", default="", help="only the pages whose name contains this")
    args = parser.parse_args()
    load_before = os.getloadavg()
    timing = (args.postgres, args.repeat, args.viewer_ratings, args.only)
    before = timed_pages(args.compare, *timing) if args.compare else None
    current = timed_pages(REPO, *timing)
    print(render(current, before, args.repeat))
    print(
        "\nLoad average (1/5/15 min) at start {}, at end {}: the machine is shared.".format(
            "/".join(f"{v:.1f}" for v in load_before),
            "/".join(f"{v:.1f}" for v in os.getloadavg()),
        )
    )


if __name__ == "__main__":
    main()
