"""Uncached ``/recommend`` latency per viewer group, in-process through the WSGI stack.

No server and no network, as ``benchmarks/request_cost.py``: each request is a direct
call of the WSGI application with production settings and the result cache off
(``VIDEOREC_RESULT_CACHE_SECONDS=0``), so every request reads the viewer's history from
the database and scores it with the active run. Wall time includes waiting for the CPU
on a shared machine; this process's CPU time does not (nor the database's work).

Groups: viewers around the median history length, and viewers with at least ``--heavy``
ratings. ``--make-heavy N`` first adds N synthetic viewers who rated ``--heavy`` movies
each (release shapes smaller than ml-25m have none); they stay in the database (ids
above every existing viewer).

Usage::

    DATABASE_URL=postgres://... MEDIA_ROOT=... .venv/bin/python \\
        benchmarks/serving_latency.py [--requests 300] [--make-heavy 20] \\
        [--compare-uncapped] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def serving_environment(database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "videorec_site.settings.production",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(REPO / "media")),
            "THROTTLE_ANON_RATE": "",
            "THROTTLE_USER_RATE": "",
            "LOG_LEVEL": "WARNING",
            "VIDEOREC_RESULT_CACHE_SECONDS": "0",
        }
    )
    sys.path.insert(0, str(REPO))


def _make_heavy(count: int, ratings_each: int) -> None:
    """Synthetic viewers with ``ratings_each`` ratings on random movies (benchmark data)."""
    import datetime as dt

    from django.db.models import Max

    from ingestion.models import Movie, Rating, Viewer

    movies = np.array(Movie.objects.values_list("id", flat=True))
    first = (Viewer.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    rng = np.random.default_rng(first)
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    for viewer_id in range(first, first + count):
        Viewer.objects.create(id=viewer_id)
        picked = rng.choice(movies, min(ratings_each, movies.size), replace=False)
        Rating.objects.bulk_create(
            Rating(
                viewer_id=viewer_id,
                movie_id=int(movie),
                score=float(rng.integers(1, 11)) / 2,
                rated_at=start + dt.timedelta(minutes=int(position)),
            )
            for position, movie in enumerate(picked)
        )


def viewer_groups(heavy: int, per_group: int) -> dict[str, list[int]]:
    from django.db.models import Count

    from ingestion.models import Rating

    counts = dict(
        Rating.objects.values("viewer_id").annotate(n=Count("id")).values_list("viewer_id", "n")
    )
    ids = np.array(list(counts))
    sizes = np.array(list(counts.values()))
    median = np.median(sizes)
    near = ids[np.argsort(np.abs(sizes - median), kind="stable")][:per_group]
    return {
        f"median viewer (~{median:.0f} ratings)": near.tolist(),
        f"{heavy}+ ratings": ids[sizes >= heavy][:per_group].tolist(),
    }


def wsgi_caller(application: Callable) -> Callable[[str], None]:
    """A function that GETs ``path`` from ``application`` in-process; asserts a 200."""

    def call(path: str) -> None:
        route, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        }  # fmt: skip
        statuses = []
        b"".join(application(environ, lambda status, headers: statuses.append(status)))
        assert statuses[0].startswith("200"), (path, statuses[0])

    return call


def warm_up(call: Callable[[str], None], groups: dict[str, list[int]]) -> None:
    """First model use, feature caches: not part of what is timed."""
    call("/healthz")
    for viewers in groups.values():
        for viewer in viewers[:5]:
            call(f"/recommend/{viewer}?topk=10")


def timed_requests(
    call: Callable[[str], None],
    viewers: list[int],
    requests: int,
    limits: dict[str, int],
    profiler: cProfile.Profile | None = None,
) -> dict[str, list[tuple[float, float]]]:
    """(wall, this process's CPU) seconds of ``requests`` uncached ``/recommend`` calls
    cycling over ``viewers``, per history limit (``VIDEOREC_SERVING_HISTORY``)."""
    from django.conf import settings

    paths = [f"/recommend/{viewers[i % len(viewers)]}?topk=10" for i in range(requests)]
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in limits}
    for path in paths:  # the settings alternate request by request: same machine load
        for label, limit in limits.items():
            settings.VIDEOREC_SERVING_HISTORY = limit
            started, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            call(path)
            if profiler:
                profiler.disable()
            times[label].append((time.perf_counter() - started, time.process_time() - cpu))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--requests", type=int, default=300, help="per group")
    parser.add_argument("--heavy", type=int, default=3000)
    parser.add_argument("--make-heavy", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile the heavy group")
    parser.add_argument(
        "--compare-uncapped",
        action="store_true",
        help="also score from the whole history (VIDEOREC_SERVING_HISTORY off), interleaved",
    )
    args = parser.parse_args()
    serving_environment(args.database_url)
    from videorec_site.wsgi import application  # noqa: I001 (sets Django up first)

    from django.conf import settings

    from ingestion.models import Rating
    from recommender.registry import active_model

    if args.make_heavy:
        _make_heavy(args.make_heavy, args.heavy)

    call = wsgi_caller(application)

    model = active_model()
    assert model is not None, "no active run: train one (benchmarks/serving_model.py)"
    groups = viewer_groups(args.heavy, 50)
    warm_up(call, groups)
    print(
        f"run {model.run_id}: {len(model.recommender.item_index):,} movies, "
        f"{Rating.objects.count():,} ratings; uncached /recommend?topk=10, "
        f"{args.requests} requests per group"
    )
    limits = {"newest " + str(settings.VIDEOREC_SERVING_HISTORY): settings.VIDEOREC_SERVING_HISTORY}
    if args.compare_uncapped:
        limits = {"whole history": 10**9, **limits}
    for name, viewers in groups.items():
        if not viewers:
            print(f"  {name}: no such viewer")
            continue
        profiler = cProfile.Profile() if args.profile and name.endswith("ratings") else None
        times = timed_requests(call, viewers, args.requests, limits, profiler)
        for label, values in times.items():
            wall = np.percentile([w for w, _ in values], [50, 90, 99]) * 1000
            cpu = np.percentile([c for _, c in values], [50, 99]) * 1000
            print(
                f"  {name}, {label}: wall p50 {wall[0]:.1f} ms, p90 {wall[1]:.1f} ms, "
                f"p99 {wall[2]:.1f} ms; this process's CPU p50 {cpu[0]:.1f} ms, "
                f"p99 {cpu[1]:.1f} ms"
            )
        if profiler:
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats("videorec|recommender|ingestion|scipy|lightgbm", 45)


if __name__ == "__main__":
    main()
