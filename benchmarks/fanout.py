"""``recommend --all`` on 1 then 2 Celery workers: the throughput of the fan-out.

Starts its own workers (``--pool solo``: concurrency 1, and one thread for OpenMP,
OpenBLAS and MKL) on a private queue of the broker, exports every viewer's
recommendations through ``manage.py recommend --all`` with 1 worker, then with 2, and
reports both wall times, measured in the same run, with the speed-up. The result cache
is off in every process, so each export computes every answer. Needs a broker, a
database with an active run (``benchmarks/serving_model.py``) and the run's artifacts
(``MEDIA_ROOT``).

Usage::

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://127.0.0.1:6379/2 \\
    CACHE_URL=redis://127.0.0.1:6379/3 MEDIA_ROOT=... \\
        .venv/bin/python benchmarks/fanout.py [--chunk-size 200] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import os
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
    args = parser.parse_args()
    env = _environment(f"videorec-fanout-{uuid.uuid4().hex[:8]}")
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        outputs = []
        for count in (int(value) for value in args.workers.split(",")):
            workers = _start_workers(count, env, folder / "workers.log")
            try:
                _warm_up(count)
                times[count] = _export(env, folder / f"{count}.tsv", args.chunk_size)
            finally:
                _stop(workers)
            outputs.append((folder / f"{count}.tsv").read_bytes())
        identical = all(output == outputs[0] for output in outputs)
        rows = outputs[0].count(b"\n") - 1
    first, *_ = times
    print(
        f"recommend --all: {rows:,} rows, chunks of {args.chunk_size} viewers; "
        f"outputs identical: {identical}"
    )
    for count, seconds in times.items():
        print(
            f"  {count} worker(s): {seconds:.1f} s wall, "
            f"{times[first] / seconds:.2f}x the throughput of {first} worker(s)"
        )


if __name__ == "__main__":
    main()
