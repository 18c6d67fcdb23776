"""One row of the scale table (issue 14), measured in one run on one fresh database.

In order, each step skippable (``--steps``, ``--skip-load``):

- ``load``: the database is dropped and created again (PostgreSQL; a SQLite file is
  removed), migrated, and ``manage.py loadmovielens --folder`` loads the release: wall
  time and peak RSS of that process;
- ``train``: ``manage.py train`` (activates the run): wall, peak RSS, the run's own stage
  timings (``ModelRun.stage_seconds``) and the artifact's size;
- ``latency``: uncached ``/recommend`` in-process (``serving_latency.py``'s functions),
  wall and CPU p50 / p99 for viewers around the median history and viewers with
  ``--heavy`` ratings or more;
- ``admin``: the admin pages (``admin_pages.py``), median of ``--repeat`` requests each;
- ``memory``: PSS and RSS of ``--workers`` gunicorn workers serving the run, artifact
  arrays memory-mapped (``worker_memory.py``), on ``--port``.

Prints the results as one JSON line, then the Markdown row; ``--write`` puts the row into
``docs/benchmarks.md`` (``--doc``) between the ``scale-row-<label>`` markers. The database
named by ``--database-url`` is **dropped** by the load step: give it one of your own.

Usage (the ml-25m row, on a quiet machine)::

    MEDIA_ROOT=/tmp/scale-media nice .venv/bin/python benchmarks/scale_row.py \\
        --database-url postgres://postgres@127.0.0.1:5432/videorec_scale \\
        --folder /work/data/ml-25m --label ml-25m [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from admin_pages import timed_pages
from commands import manage, manage_measured
from load_movielens import recreate_database
from report import DOC, machine_description, write_section
from serving_latency import serving_environment, timed_requests, viewer_groups, warm_up, wsgi_caller
from worker_memory import measure_workers

REPO = Path(__file__).resolve().parent.parent
STEPS = ("load", "train", "latency", "admin", "memory")


def child_environment(database_url: str) -> dict[str, str]:
    """The management commands' settings: this database, no broker, no shared cache."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DATABASE_URL": database_url,
        "CACHE_URL": "locmemcache://",
        "CELERY_BROKER_URL": "",
    }


def fresh_database(database_url: str, env: dict[str, str]) -> None:
    if database_url.startswith("sqlite"):
        Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        recreate_database(database_url)
    manage(env, "migrate", "-v0")


def load_step(database_url: str, env: dict[str, str], folder: Path) -> dict:
    fresh_database(database_url, env)
    done = manage_measured(env, "loadmovielens", str(folder))
    return {"seconds": done.seconds, "peak_mb": done.peak_mb}


def train_step(env: dict[str, str]) -> dict:
    done = manage_measured(env, "train")
    from recommender.models import ModelRun

    run = ModelRun.objects.order_by("-id").first()
    return {
        "run": run.id,
        "seconds": done.seconds,
        "peak_mb": done.peak_mb,
        "stages": run.stage_seconds,
        "artifact_mb": run.artifact.size / 2**20 if run.artifact else None,
    }


def latency_step(heavy: int, requests: int) -> dict:
    """Wall and CPU percentiles (ms) per viewer group; None for a group without viewers."""
    from django.conf import settings

    from videorec_site.wsgi import application

    call = wsgi_caller(application)
    groups = viewer_groups(heavy, 50)
    warm_up(call, groups)
    limit = settings.VIDEOREC_SERVING_HISTORY
    results: dict[str, dict | None] = {}
    for key, (name, viewers) in zip(("median", "heavy"), groups.items(), strict=True):
        if not viewers:
            results[key] = None
            continue
        times = np.array(timed_requests(call, viewers, requests, {name: limit})[name]) * 1000
        wall, cpu = np.percentile(times, [50, 99], axis=0).T
        results[key] = {
            "group": name,
            "wall_p50_ms": wall[0],
            "wall_p99_ms": wall[1],
            "cpu_p50_ms": cpu[0],
            "cpu_p99_ms": cpu[1],
        }
    return results


def admin_step(database_url: str, env: dict[str, str], repeat: int) -> dict:
    pages = timed_pages(REPO, database_url, repeat, 5000, base_env=env)
    slowest = max(pages, key=lambda name: pages[name]["median"])
    return {"pages": pages, "slowest": slowest}


def memory_step(port: int, workers: int, requests: int) -> dict:
    figures = measure_workers(port, workers, True, requests)
    return {"workers": figures, "pss_total_mb": sum(worker["Pss"] for worker in figures)}


def dataset_counts() -> dict[str, int]:
    from ingestion.models import Movie, Rating, Viewer

    return {
        "ratings": Rating.objects.count(),
        "viewers": Viewer.objects.count(),
        "movies": Movie.objects.count(),
    }


def progress(step: str, result: dict) -> dict:
    print(f"{step}: {json.dumps(result, default=float)}", file=sys.stderr, flush=True)
    return result


def measure(args: argparse.Namespace, steps: list[str]) -> dict:
    """Run ``steps`` in order; the results, keyed by step."""
    env = child_environment(args.database_url)
    result: dict = {"label": args.label, "steps": steps}
    if "load" in steps:
        result["load"] = progress("load", load_step(args.database_url, env, args.folder))
    # In-process Django (production settings, result cache off) for what follows.
    os.environ.update(CACHE_URL="locmemcache://", CELERY_BROKER_URL="")
    serving_environment(args.database_url)
    import django

    django.setup()
    result["counts"] = dataset_counts()
    if "train" in steps:
        result["train"] = progress("train", train_step(env))
    if "latency" in steps:
        result["latency"] = progress("latency", latency_step(args.heavy, args.requests))
    if "admin" in steps:
        result["admin"] = progress("admin", admin_step(args.database_url, env, args.repeat))
    if "memory" in steps:
        result["memory"] = progress("memory", memory_step(args.port, args.workers, args.requests))
    result["load_average"] = list(os.getloadavg())
    return result


HEADER = (
    "| Shape | Ratings | Load: wall, peak RSS | Train: wall (stages), peak RSS | Artifact | "
    "/recommend wall p50 / p99, median viewers | 3,000+ viewers | Slowest admin page | "
    "Workers' PSS | Load average |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def markdown_row(result: dict) -> str:
    def cell(key: str, render) -> str:
        return render(result[key]) if result.get(key) is not None else "–"

    def latency(group: dict | None) -> str:
        return f"{group['wall_p50_ms']:.1f} / {group['wall_p99_ms']:.1f} ms" if group else "–"

    def train(step: dict) -> str:
        stages = " / ".join(f"{name} {seconds:.0f}" for name, seconds in step["stages"].items())
        return f"{step['seconds']:.0f} s ({stages}), {step['peak_mb']:,.0f} MB"

    cells = [
        result["label"],
        f"{result['counts']['ratings']:,}",
        cell("load", lambda step: f"{step['seconds']:.1f} s, {step['peak_mb']:,.0f} MB"),
        cell("train", train),
        cell("train", lambda step: f"{step['artifact_mb'] or 0:.1f} MB"),
        cell("latency", lambda step: latency(step["median"])),
        cell("latency", lambda step: latency(step["heavy"])),
        cell(
            "admin",
            lambda step: f"{step['slowest']} {step['pages'][step['slowest']]['median']:.3f} s",
        ),
        cell("memory", lambda step: f"{step['pss_total_mb']} MiB"),
        "/".join(f"{value:.1f}" for value in result["load_average"]),
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="dropped by the load step")
    parser.add_argument("--folder", type=Path, required=True, help="the release's folder")
    parser.add_argument("--label", help="the row's name (default: the folder's name)")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset")
    parser.add_argument("--skip-load", action="store_true", help="the data is loaded already")
    parser.add_argument("--requests", type=int, default=200, help="per viewer group")
    parser.add_argument("--heavy", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per admin page")
    parser.add_argument("--port", type=int, default=8114)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="rewrite the row in --doc")
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    args.label = args.label or args.folder.name
    steps = [step for step in args.steps.split(",") if step]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))} (of {', '.join(STEPS)})")
    if args.skip_load:
        steps = [step for step in steps if step != "load"]
    result = measure(args, [step for step in STEPS if step in steps])
    print(json.dumps(result, default=float))
    body = f"Machine: {machine_description()}.\n\n{HEADER}\n{markdown_row(result)}"
    print(body)
    if args.write:
        write_section(f"scale-row-{args.label}", f"Scale row: {args.label}", body, args.doc)


if __name__ == "__main__":
    sys.exit(main())
