"""Load test of ``/recommend/<user_id>`` against ``/healthz`` on the same production server.

Starts gunicorn with ``videorec_site.settings.production`` (2 workers) on 127.0.0.1 over a
database that already has an active model run, warms every worker, then runs ``wrk``
(Debian package) for a fixed time per endpoint: ``/recommend`` over rotating user ids,
``/healthz`` as the reference. Also measures, in-process, the uncached latency of one
recommendation (history query → candidates → features → LightGBM → titles).

Usage::

    .venv/bin/python benchmarks/load_test.py [--database-url sqlite:///db.sqlite3] \
        [--cache-url redis://127.0.0.1:6379/3] [--connections 32] [--seconds 20] [--write]

Each cache configuration gets its own server: local memory always, ``--cache-url`` too.
``--experiment split`` (or ``interleave``, repeatable) adds a server per mode with such an
experiment running (the popularity baseline against the active run, 50/50), stopped at
the end: every answer then also carries its experiment and records its impression.

The default database is the project's ``db.sqlite3`` as ``make run`` leaves it.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent
ROTATE_USERS = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/recommend/" .. ((counter * 7919) % {users} + 1) .. "?topk=10")
end
"""

IN_PROCESS = """
import random, statistics, time
import videorec_site.wsgi  # set up as a web worker is: single-threaded BLAS and OpenMP
from ingestion.models import Viewer
from recommender.registry import active_model
from recommender.services.serving import recommendations_for_viewers
assert active_model() is not None, "no active model run: train first"
viewers = list(Viewer.objects.values_list("id", flat=True))
random.seed(0)
sample = random.sample(viewers, min(300, len(viewers)))
recommendations_for_viewers(viewer_ids=[sample[0]], topk=10)
runs = []
for viewer in sample:
    started = time.perf_counter()
    recommendations_for_viewers(viewer_ids=[viewer], topk=10)
    runs.append((time.perf_counter() - started) * 1000)
runs.sort()
print(len(viewers), statistics.median(runs), runs[int(0.99 * (len(runs) - 1))])
"""


EXPERIMENT = """
import sys
import videorec_site.wsgi
from experiments.models import Experiment
from experiments.services.lifecycle import (
    VariantSpec, experiment_create, experiment_start, experiment_stop,
)
for running in Experiment.objects.filter(status="running"):
    experiment_stop(experiment_id=running.id)
if sys.argv[1] != "none":
    variants = [VariantSpec("popularity", "popularity", 1.0), VariantSpec("active", "active", 1.0)]
    name = f"load test {sys.argv[1]}"
    experiment = experiment_create(name=name, mode=sys.argv[1], variants=variants)
    experiment_start(experiment_id=experiment.id)
"""


def wrk(url: str, connections: int, seconds: int, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
    }


def serve_and_measure(
    env: dict[str, str], args: argparse.Namespace, users: int, cache_url: str | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Start gunicorn with ``cache_url`` (None: local memory), warm it, run wrk on both."""
    env = {**env, **({"CACHE_URL": cache_url} if cache_url else {})}
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "videorec_site.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        # Warm up: every worker loads the model, every viewer's answer is computed once
        # (twice over with a per-process cache, so that most workers hold most answers).
        rounds = 1 if cache_url else args.workers
        with ThreadPoolExecutor(max_workers=2 * args.workers) as pool:
            list(
                pool.map(
                    lambda user: urllib.request.urlopen(
                        f"{base}/recommend/{user}?topk=10", timeout=120
                    ).read(),
                    [user for _ in range(rounds) for user in range(1, users + 1)],
                )
            )
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            lua.write(ROTATE_USERS.format(users=users))
        recommend = wrk(base, args.connections, args.seconds, Path(lua.name))
        healthz = wrk(f"{base}/healthz", args.connections, args.seconds, None)
        Path(lua.name).unlink()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return recommend, healthz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=f"sqlite:///{REPO / 'db.sqlite3'}")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--cache-url",
        help="also measure with this CACHE_URL, e.g. redis://127.0.0.1:6379/3 "
        "(local memory is always measured)",
    )
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        choices=["split", "interleave"],
        help="also measure (local memory cache) with an experiment of this mode running",
    )
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.production",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database_url,
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(REPO / "media")),
        # The load generator is one client: throttling would measure itself (and DRF's
        # throttle keeps every request time of the window in the cache).
        "THROTTLE_ANON_RATE": "",
        "THROTTLE_USER_RATE": "",
    }
    env.pop("CACHE_URL", None)
    users_s, p50_ms, p99_ms = subprocess.run(
        [sys.executable, "-c", IN_PROCESS], env={**env, "VIDEOREC_RESULT_CACHE_SECONDS": "0"},
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    users = int(users_s)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=REPO,
        check=True,
    )  # fmt: skip
    caches = [None, *([args.cache_url] if args.cache_url else [])]
    results = {(cache, "none"): serve_and_measure(env, args, users, cache) for cache in caches}
    for mode in args.experiment:
        subprocess.run([sys.executable, "-c", EXPERIMENT, mode], env=env, cwd=REPO, check=True)
        try:
            results[None, mode] = serve_and_measure(env, args, users, None)
        finally:
            subprocess.run(
                [sys.executable, "-c", EXPERIMENT, "none"], env=env, cwd=REPO, check=True
            )

    def cache_name(cache_url: str | None, mode: str) -> str:
        name = (cache_url or "locmem").split(":")[0]
        return name if mode == "none" else f"{name}, {mode} experiment running"

    rows, ratios = [], []
    for (cache_url, mode), (recommend, healthz) in results.items():
        name = cache_name(cache_url, mode)
        for endpoint, r in (
            (f"`/recommend/<1…{users}>?topk=10`", recommend),
            ("`/healthz` (reference)", healthz),
        ):
            rows.append(
                f"| {name} | {endpoint} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
                f"| {r['requests']:,} | {r['errors']} | {r['socket_errors']} |"
            )
        ratios.append(f"**{recommend['rps'] / healthz['rps']:.2f}×** with {name}")
    section = "\n".join(
        [
            f"Machine: {machine_description()}. gunicorn with production settings, "
            f"{args.workers} workers, on 127.0.0.1; wrk with 2 threads, {args.connections} "
            f"connections, {args.seconds} s per endpoint; database "
            f"`{args.database_url.split(':')[0]}`; one server per cache configuration, "
            "each viewer's answer computed before measuring (answers are cached by model and "
            "viewer history version); throttling off.",
            "",
            "| Cache | Endpoint | Requests/s | p50 (ms) | p99 (ms) | Requests | Non-2xx "
            "| Socket errors |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
            "",
            f"`/recommend` throughput against `/healthz` on the same server: {', '.join(ratios)}.",
            f"In-process, uncached, one viewer (history query → candidates → features → "
            f"LightGBM → titles), 300 viewers: p50 **{float(p50_ms):.1f} ms**, p99 "
            f"**{float(p99_ms):.1f} ms**.",
            "",
            "Command: `.venv/bin/python benchmarks/load_test.py --cache-url "
            "redis://127.0.0.1:6379/3 --write` (after `make run` has loaded and trained).",
        ]
    )
    print(section)
    if args.write:
        write_section("load-test", "Serving under load", section)


if __name__ == "__main__":
    main()
