"""Train a quick model on the database's ratings and make it the active run, for serving
measurements at scale (``benchmarks/serving_latency.py``, ``benchmarks/fanout.py``).

Not the production pipeline: ``manage.py train`` fits every default source and evaluates
the run, which takes too long at ml-10m shape today. This fits the named sources (the
default: popularity, item-kNN, ALS with one model) on an optional user sample, one ranker
fold, no evaluation, and activates the result. Serving cost depends on the catalogue,
the sources and the candidate count, not on the users the model was fitted on: every
viewer is served from their current history in the database.

Usage::

    DATABASE_URL=postgres://... MEDIA_ROOT=/tmp/media .venv/bin/python \\
        benchmarks/serving_model.py [--sources popularity,itemknn,als] [--sample-users 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default="popularity,recent_popularity,itemknn,als")
    parser.add_argument("--sample-users", type=int, default=0, help="0: every viewer")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videorec_site.settings.local")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    import numpy as np
    from django.core.files import File
    from django.db import transaction

    from ingestion import selectors as data_selectors
    from recommender import registry
    from recommender.engine.artifacts import save_model
    from recommender.engine.config import TUNED_SOURCES, PipelineConfig
    from recommender.engine.data import InteractionData
    from recommender.engine.training import fit
    from recommender.models import ModelRun

    started = time.perf_counter()
    ratings = data_selectors.ratings_frame(viewer_ids=None)
    if args.sample_users:
        users = ratings["user_id"].unique()
        chosen = np.random.default_rng(0).choice(
            users, min(args.sample_users, users.size), replace=False
        )
        ratings = ratings[ratings["user_id"].isin(chosen)]
    names = args.sources.split(",")
    sources = {name: dict(TUNED_SOURCES[name]) for name in names}
    if "als" in sources:
        sources["als"]["n_models"] = 1
    config = PipelineConfig(sources=sources, n_folds=1)
    data = InteractionData(
        ratings=ratings, items=data_selectors.movies_frame(), users=data_selectors.viewers_frame()
    )
    read = time.perf_counter() - started
    model = fit(config, data)
    fitted = time.perf_counter() - started - read
    run = ModelRun.objects.create(
        status=ModelRun.Status.SUCCEEDED,
        stage=ModelRun.Stage.DONE,
        triggered_by="benchmarks/serving_model.py",
        params={"pipeline": config.to_dict(), "sample_users": args.sample_users},
    )
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"run-{run.id}.npz"
        save_model(model, path)
        with path.open("rb") as handle:
            run.artifact_sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
            handle.seek(0)
            run.artifact.save(path.name, File(handle), save=True)
    with transaction.atomic():
        registry.active_run_set(run=run)
    size = run.artifact.size / 1e6
    print(
        f"run {run.id}: {len(ratings):,} ratings, sources {names}; read {read:.1f} s, "
        f"fit {fitted:.1f} s, artifact {size:.1f} MB, active"
    )


if __name__ == "__main__":
    main()
