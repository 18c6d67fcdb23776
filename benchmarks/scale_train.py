"""Engine-level training cost per stage at growing data shapes (synthetic data sets).

Runs what ``manage.py train`` runs, without the database: recall sources
(``fit_sources``) and their published tables, the ranker (``fit_ranker``) and the
offline evaluation (``evaluate_holdout`` on a user sample), on a release-shaped folder
written by ``manage.py makemovielens`` (synthetic, *not* MovieLens data) or on the
GroupLens ml-100k folder. Prints wall seconds and peak RSS per stage, the recall choices
(e.g. EASE on a subset) and the sample sizes, as one JSON line and a Markdown row.

Usage::

    .venv/bin/python manage.py makemovielens --shape ml-25m --out /data/ml-25m
    .venv/bin/python benchmarks/scale_train.py /data/ml-25m [--threads 2] \
        [--evaluation-users 5000] [--row-budget 2000000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from movielens_frames import peak_rss_mb, read_release
from report import machine_description

from recommender.engine.config import PipelineConfig
from recommender.engine.evaluation import evaluate_holdout
from recommender.engine.recall_tables import item_source_names, neighbor_table, popularity_table
from recommender.engine.training import fit_ranker, fit_sources

logger = logging.getLogger("scale_train")


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stage(function: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``function``: its result, wall seconds and the peak RSS (MB) sampled meanwhile.

    The process's CPU seconds (all threads) are logged too: on a shared machine the wall
    time says more about the neighbours than about the code.
    """
    peak = _rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = function()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    logger.info(
        "stage: %.1f s wall, %.1f s CPU, peak %.0f MB", seconds, time.process_time() - cpu, peak
    )
    return result, round(seconds, 1), round(max(peak, _rss_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluation-users", type=int, default=5000)
    parser.add_argument("--row-budget", type=int, default=PipelineConfig().ranker_row_budget)
    parser.add_argument("--skip-evaluation", action="store_true")
    parser.add_argument("--recall-only", action="store_true", help="stop after the recall stage")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = PipelineConfig(label_split="mixed", ranker_row_budget=args.row_budget)
    config = replace(config, ranker=replace(config.ranker, num_threads=args.threads))
    result: dict[str, Any] = {"data": str(args.path), "machine": machine_description()}
    data, result["load s"], _ = stage(lambda: read_release(args.path))
    result["ratings"] = len(data.ratings)
    result["users"] = int(data.ratings["user_id"].nunique())
    result["items"] = int(data.ratings["item_id"].nunique())
    model, result["recall s"], result["recall peak MB"] = stage(lambda: fit_sources(config, data))
    result["recall choices"] = model.fit_report["recall_choices"]

    def tables() -> int:
        rows = sum(len(neighbor_table(model, name)) for name in item_source_names(model))
        return rows + len(popularity_table(model))

    result["table rows"], result["tables s"], result["tables peak MB"] = stage(tables)
    if args.recall_only:
        print(json.dumps(result))
        return
    model, result["ranker s"], result["ranker peak MB"] = stage(lambda: fit_ranker(model, data))
    result["ranker viewers per fold"] = [
        value for key, value in model.fit_report.items() if key.endswith("_viewers")
    ]
    result["ranker rows"] = model.fit_report["ranker_rows"]
    result["ranker refit"] = model.fit_report["ranker_refit"]
    if not args.skip_evaluation:
        report, result["evaluation s"], result["evaluation peak MB"] = stage(
            lambda: evaluate_holdout(data, config, max_users=args.evaluation_users)
        )
        result["evaluation users"] = report.protocol["users"]
        result["baselines from system"] = report.protocol["baselines_from_system"]
        result["evaluation seconds"] = report.seconds
        result["ndcg@10"] = report.system["ndcg@10"]
        result["auc"] = report.system["auc"]
    result["train s"] = round(
        sum(result.get(key, 0) for key in ("recall s", "tables s", "ranker s", "evaluation s")), 1
    )
    result["process peak MB"] = round(peak_rss_mb())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
