"""CPU cost of one request through the whole WSGI stack, in-process: cached ``/recommend``
against ``/healthz``.

No server and no network: each request is a direct call of the WSGI application with
production settings, over a database that has an active model run (``make run`` leaves
one). Every viewer's answer is computed once first, so ``/recommend`` measures the cache
hit path (history version lookup, answer from process memory, JSON rendering).

With ``--experiments`` the same rounds also time ``/recommend`` with its impression not
recorded (the cost of recording it), and while a split and an interleaving experiment
(popularity baseline against the active run) run; the experiments are created in the
database and stopped at the end.

Usage::

    .venv/bin/python benchmarks/request_cost.py [--database-url sqlite:///db.sqlite3] \\
        [--requests 5000] [--experiments]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=f"sqlite:///{REPO / 'db.sqlite3'}")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--throttle-rate",
        default="",
        help="THROTTLE_ANON_RATE for the run, e.g. 100000000/minute (default: throttling off)",
    )
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also time /recommend unrecorded and under a split and an interleaving experiment",
    )
    args = parser.parse_args()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "videorec_site.settings.production",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": args.database_url,
            "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(REPO / "media")),
            "THROTTLE_ANON_RATE": args.throttle_rate,
            "THROTTLE_USER_RATE": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(REPO))
    from django.apps import apps
    from serving_latency import wsgi_caller

    from videorec_site.wsgi import application  # sets Django up, as gunicorn does

    viewer_model = apps.get_model("ingestion", "Viewer")

    call = wsgi_caller(application)

    users = viewer_model.objects.count()
    recommend = [f"/recommend/{i * 7919 % users + 1}?topk=10" for i in range(args.requests)]
    setups = {"healthz": None, "recommend": None}
    if args.experiments:
        setups |= {"recommend, not recorded": "unrecorded", "recommend, split": "split"}
        setups["recommend, interleaved"] = "interleave"
    for setup in setups.values():  # every answer of every strategy computed once first
        with configured(setup):
            for user in range(1, users + 1):
                call(f"/recommend/{user}?topk=10")
    per_request: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.repeat):  # interleaved, so all see the same machine load
        for name, setup in setups.items():
            batch = ["/healthz"] * args.requests if name == "healthz" else recommend
            with configured(setup):
                started = time.perf_counter()
                for path in batch:
                    call(path)
                per_request[name].append((time.perf_counter() - started) / len(batch) * 1000)
    healthz = statistics.median(per_request["healthz"])
    throttling = f"anonymous throttle {args.throttle_rate}" if args.throttle_rate else "no throttle"
    print(f"{throttling}; median of {args.repeat} rounds of {args.requests:,} requests:")
    for name, rounds in per_request.items():
        cost = statistics.median(rounds)
        print(f"  {name:<26} {cost:.3f} ms per request ({cost / healthz:.2f}× /healthz)")


@contextlib.contextmanager
def configured(setup: str | None) -> Iterator[None]:
    """Serve under ``setup``: an experiment of that mode running (popularity against the
    active run), or "unrecorded" (impressions not recorded), or as configured (None)."""
    from experiments.services import serving
    from experiments.services.lifecycle import (
        VariantSpec,
        experiment_create,
        experiment_start,
        experiment_stop,
    )

    if setup is None:
        yield
        return
    if setup == "unrecorded":
        recorded, serving.impression_record = serving.impression_record, lambda row: None
        try:
            yield
        finally:
            serving.impression_record = recorded
        return
    variants = [VariantSpec("popularity", "popularity", 1.0), VariantSpec("active", "active", 1.0)]
    experiment = experiment_create(name=f"request_cost {setup}", mode=setup, variants=variants)
    experiment_start(experiment_id=experiment.id)
    try:
        yield
    finally:
        experiment_stop(experiment_id=experiment.id)


if __name__ == "__main__":
    main()
