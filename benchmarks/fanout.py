"""``recommend --all`` on 1 then 2 Celery workers: the throughput of the fan-out.

Starts its own workers (``--pool solo``: concurrency 1, and one thread for OpenMP,
OpenBLAS and MKL) on a private queue of the broker, exports every viewer's
recommendations through ``manage.py recommend --all`` with 1 worker and with 2 in
alternating rounds, and reports the wall times measured in the same run with the
speed-up. The result cache is off in every process, so each export computes every
answer. Needs a broker, a database with an active run (``benchmarks/serving_model.py``)
and the run's artifacts (``MEDIA_ROOT``).

Usage::

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://127.0.0.1:6379/2 \\
    CACHE_URL=redis://127.0.0.1:6379/3 MEDIA_ROOT=... \\
        .venv/bin/python benchmarks/fanout.py [--chunk-size 200] [--workers 1,2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SINGLE_THREADED = {
    name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
}


def _environment(queue: str) -> dict[str, str]:
    if not os.environ.get("CELERY_BROKER_URL"):
        sys.exit("set CELERY_BROKER_URL: the workers need a broker")
    return {
        **os.environ,
        **SINGLE_THREADED,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "VIDEOREC_RESULT_CACHE_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }


def _start_workers(count: int, env: dict[str, str], log: Path) -> list[subprocess.Popen]:
    with log.open("a") as handle:
        return [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "videorec_site",
                    "worker",
                    "--pool",
                    "solo",
                    "--queues",
                    env["CELERY_TASK_DEFAULT_QUEUE"],
                    "--hostname",
                    f"fanout-{uuid.uuid4().hex[:6]}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=REPO,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                # Its own session, as a worker on its own host or in its own service would
                # be: Linux's autogroup scheduler shares the CPU between sessions, so
                # workers started in one session would split one share between them.
                start_new_session=True,
            )
            for _ in range(count)
        ]


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _warm_up(count: int) -> None:
    """Every worker loads the active model on its first task: a few one-viewer tasks per
    worker, run before the timing, keep that load out of it."""
    from celery import group

    from ingestion.models import Viewer
    from videorec_site import celery_app

    viewer = Viewer.objects.order_by("id").values_list("id", flat=True).first()
    task = celery_app.signature("recommender.recommend_chunk")
    tasks = [task.clone(kwargs={"viewer_ids": [viewer], "topk": 10}) for _ in range(4 * count)]
    group(tasks).apply_async().get(timeout=600)


def _export(env: dict[str, str], output: Path, chunk_size: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "recommend",
            "--all",
            "--topk",
            "10",
            "--output",
            str(output),
            "--chunk-size",
            str(chunk_size),
        ],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, in order")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    env = _environment(f"videorec-fanout-{uuid.uuid4().hex[:8]}")
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    counts = [int(value) for value in args.workers.split(",")]
    times: dict[int, list[float]] = {count: [] for count in counts}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        outputs = set()
        # Rounds alternate between the worker counts: a machine shared with other work
        # then loads every configuration alike.
        for _ in range(args.repeat):
            for count in counts:
                workers = _start_workers(count, env, folder / "workers.log")
                try:
                    _warm_up(count)
                    times[count].append(_export(env, folder / "out.tsv", args.chunk_size))
                finally:
                    _stop(workers)
                outputs.add((folder / "out.tsv").read_bytes())
    rows = next(iter(outputs)).count(b"\n") - 1
    print(
        f"recommend --all: {rows:,} rows, chunks of {args.chunk_size} viewers, "
        f"{args.repeat} alternating round(s); outputs identical: {len(outputs) == 1}"
    )
    base = statistics.median(times[counts[0]])
    for count, seconds in times.items():
        rounds = ", ".join(f"{value:.1f}" for value in seconds)
        print(
            f"  {count} worker(s): median {statistics.median(seconds):.1f} s wall "
            f"(rounds: {rounds}), {base / statistics.median(seconds):.2f}x the throughput "
            f"of {counts[0]} worker(s)"
        )


if __name__ == "__main__":
    main()
