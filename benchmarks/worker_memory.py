"""Memory of gunicorn workers serving the active run: artifact arrays read vs mapped.

Starts gunicorn (``--workers 2``, sync) on ``--port`` twice, first with
``VIDEOREC_ARTIFACT_MMAP=false`` then ``true``, sends uncached ``/recommend`` requests from
several threads until every worker has loaded the model, and reads each worker's
``/proc/<pid>/smaps_rollup``: RSS counts the shared pages in full in every process, PSS
divides them among the processes sharing them (the sum of the workers' PSS is what the
machine really spends).

Usage::

    DATABASE_URL=postgres://... MEDIA_ROOT=... .venv/bin/python \\
        benchmarks/worker_memory.py [--port 8114] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIELDS = ("Rss", "Pss", "Shared_Clean", "Private_Dirty")


def _memory(pid: int) -> dict[str, int]:
    """The process's memory figures in MiB (``smaps_rollup``)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        values[name.rstrip(":")] = int(value) // 1024
    return {name: values[name] for name in FIELDS}


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _serve(port: int, workers: int, mmap: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.production",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "THROTTLE_ANON_RATE": "",
        "THROTTLE_USER_RATE": "",
        "LOG_LEVEL": "WARNING",
        "VIDEOREC_RESULT_CACHE_SECONDS": "0",
        "VIDEOREC_ARTIFACT_MMAP": "true" if mmap else "false",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "videorec_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=120) as response:
        response.read()


def measure_workers(port: int, workers: int, mmap: bool, viewers: int) -> list[dict[str, int]]:
    server = _serve(port, workers, mmap)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                _get(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        # Many concurrent requests: every sync worker takes some, and loads the model.
        urls = [f"{base}/recommend/{viewer}?topk=10" for viewer in range(1, viewers + 1)]
        with ThreadPoolExecutor(max_workers=4 * workers) as pool:
            list(pool.map(_get, urls))
        return [_memory(pid) for pid in _children(server.pid)]
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8114)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    for mmap in (False, True):
        figures = measure_workers(args.port, args.workers, mmap, args.requests)
        label = "mapped (VIDEOREC_ARTIFACT_MMAP=true)" if mmap else "read (=false)"
        print(f"artifact arrays {label}:")
        for number, values in enumerate(figures, start=1):
            print(f"  worker {number}: " + ", ".join(f"{k} {v} MiB" for k, v in values.items()))
        print(f"  workers' PSS together: {sum(values['Pss'] for values in figures)} MiB")


if __name__ == "__main__":
    main()
