"""How long do publishing a run's recall tables and pruning them take at ml-25m size?

On a loaded database (e.g. the ml-25m shape from ``makemovielens`` + ``loadmovielens``):
two model runs are created and each gets a synthetic neighbor table of
``--sources`` × ``--neighbors`` rows per movie (2 × 60 × 59,047 ≈ 7.1 million rows, the
size the issue names) and a popularity list. Timed, in one run:

- publishing the first run with ``recall_tables_write`` (the run and movies checked and
  locked in bulk, then ``COPY`` into a table without foreign-key constraints);
- the same rows for the second run as the previous code wrote them: ``COPY`` with the
  table's three foreign keys in place (added back ``NOT VALID`` inside the transaction, so
  only the new rows are checked, one by one, as before), the deferred checks fired with
  ``SET CONSTRAINTS ALL IMMEDIATE``, then rolled back;
- ``recall_tables_prune(keep=1)``, which deletes the older run's rows;
- ``model_runs_delete`` of the second run (its rows go with it, by cascade).

The two runs are deleted at the end whatever happens. Synthetic rows: not a model's output.
``--movies N`` first adds synthetic movies up to N (59,047 is ml-25m's catalogue), so that
the tables can be timed at that size on a database without the ratings; they stay.
``--leave-one`` only publishes one run and leaves it (to time the neighbor admin list at
size with ``admin_pages.py``; delete it from the admin, or with ``model_runs_delete``).

Usage::

    .venv/bin/python benchmarks/recall_tables.py \
        --postgres postgres://postgres@127.0.0.1:5432/videorec_h14data [--movies 59047]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent


def synthetic_tables(movie_ids: np.ndarray, sources: int, neighbors: int, seed: int):
    rng = np.random.default_rng(seed)
    per_source = len(movie_ids) * neighbors
    frames = [
        pd.DataFrame(
            {
                "movie_id": np.repeat(movie_ids, neighbors),
                "neighbor_id": rng.choice(movie_ids, per_source),
                "score": rng.random(per_source, dtype=np.float32),  # as the engine's
                "rank": np.tile(np.arange(1, neighbors + 1), len(movie_ids)),
                "source": f"source{index}",
            }
        )
        for index in range(sources)
    ]
    popular = pd.DataFrame(
        {"movie_id": movie_ids[:100], "score": np.linspace(1, 0, 100), "rank": np.arange(1, 101)}
    )
    return pd.concat(frames, ignore_index=True), popular


#: The foreign keys the table had before publication checked them in bulk (migration 0004).
PREVIOUS_KEYS = {"run_id": "recommender_modelrun", "movie_id": "ingestion_movie",
                 "neighbor_id": "ingestion_movie"}  # fmt: skip


def add_movies(up_to: int) -> None:
    """Synthetic movies (ids above the existing ones) until there are ``up_to``."""
    from django.db.models import Max

    from ingestion.models import Movie

    missing = up_to - Movie.objects.count()
    first = (Movie.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    Movie.objects.bulk_create(
        (Movie(id=i, title=f"Synthetic {i}") for i in range(first, first + max(missing, 0))),
        batch_size=5000,
    )


def timed(label: str, action, results: list[tuple[str, float]]) -> None:
    start = time.perf_counter()
    action()
    results.append((label, time.perf_counter() - start))
    print(f"{label}: {results[-1][1]:.1f} s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", required=True, help="URL of the loaded database")
    parser.add_argument("--sources", type=int, default=2)
    parser.add_argument("--neighbors", type=int, default=60)
    parser.add_argument("--movies", type=int, default=0, help="add synthetic movies up to N")
    parser.add_argument("--leave-one", action="store_true", help="publish one run, keep it")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=args.postgres,
        DJANGO_SETTINGS_MODULE="videorec_site.settings.local",
        DJANGO_READ_DOT_ENV_FILE="false",
        CACHE_URL="locmemcache://",
        CELERY_BROKER_URL="",
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection, transaction
    from report import machine_description

    from common.bulk import insert_frame
    from ingestion.models import Movie
    from recommender.models import ItemNeighbor, ModelRun
    from recommender.services.artifacts import model_runs_delete
    from recommender.services.recall_tables import recall_tables_prune, recall_tables_write

    add_movies(args.movies)
    movie_ids = np.array(Movie.objects.order_by("id").values_list("id", flat=True))
    neighbors, popular = synthetic_tables(movie_ids, args.sources, args.neighbors, 0)
    succeeded = ModelRun.Status.SUCCEEDED
    if args.leave_one:
        run = ModelRun.objects.create(status=succeeded, triggered_by="benchmark")
        recall_tables_write(run=run, neighbors=neighbors, popular=popular)
        print(f"run {run.id}: {len(neighbors):,} neighbor rows published and kept")
        return
    runs = [ModelRun.objects.create(status=succeeded, triggered_by="benchmark") for _ in "ab"]
    results: list[tuple[str, float]] = []

    class RolledBack(Exception):
        pass

    def previous_second() -> None:
        table = ItemNeighbor._meta.db_table
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for column, target in PREVIOUS_KEYS.items():
                    cursor.execute(
                        f"ALTER TABLE {table} ADD CONSTRAINT previous_{column} FOREIGN KEY "
                        f"({column}) REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED "
                        "NOT VALID"
                    )
                insert_frame(table, neighbors.assign(run_id=runs[1].id))
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                raise RolledBack
        except RolledBack:
            pass

    try:
        timed(
            f"publish {len(neighbors):,} neighbor rows (COPY)",
            lambda: recall_tables_write(run=runs[0], neighbors=neighbors, popular=popular),
            results,
        )
        timed(
            "the same rows, previous code (COPY, foreign keys checked per row; rolled back)",
            previous_second,
            results,
        )
        timed("prune the older run (recall_tables_prune)", lambda: recall_tables_prune(keep=1),
              results)  # fmt: skip
        timed(
            "delete a run with its rows (model_runs_delete, cascade)",
            lambda: model_runs_delete(runs=ModelRun.objects.filter(id=runs[1].id)),
            results,
        )
    finally:
        ModelRun.objects.filter(id__in=[run.id for run in runs]).delete()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Machine: {machine_description()}; peak RSS of this process {peak:.0f} MB.\n")
    print("| Step | Seconds |\n| --- | ---: |")
    for label, seconds in results:
        print(f"| {label} | {seconds:.1f} |")
    print(f"\nPublishing: {results[1][1] / results[0][1]:.1f}× faster than the previous code.")
    print("\nLoad average (1/5/15 min) at end: " + "/".join(f"{v:.1f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
