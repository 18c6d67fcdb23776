"""Offline evaluation of the product pipeline and its baselines on MovieLens-100k.

Runs, in one process:

* the Microsoft Recommenders protocol (per-user stratified 75/25 split, seed 42,
  every held-out rating relevant, full catalogue minus the user's training items,
  K=10);
* a time-based protocol (each user's most recent 20% held out);
* the seed project's classification task (label = rating >= 4, random 80/20 of
  rows, AUC; all statistics from the training part only);

prints a Markdown report and, with ``--write``, puts it in ``docs/benchmarks.md``.

Usage::

    .venv/bin/python benchmarks/offline_eval.py [--path DIR] [--quick] [--tune] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rating_classifier import RatingClassifier  # noqa: E402
from source_tuning import tune_source  # noqa: E402

from recommender.engine.config import PipelineConfig, build_source  # noqa: E402
from recommender.engine.data import (  # noqa: E402
    IdIndex,
    InteractionData,
    build_histories,
    catalogue_index,
)
from recommender.engine.evaluation import holdout_candidate_recall, relevant_lists  # noqa: E402
from recommender.engine.metrics import evaluate_topk, roc_auc  # noqa: E402
from recommender.engine.model import RecommenderModel  # noqa: E402
from recommender.engine.scoring import recommend  # noqa: E402
from recommender.engine.splits import random_split, stratified_split, time_split  # noqa: E402
from recommender.engine.training import fit  # noqa: E402

logger = logging.getLogger("offline_eval")

K = 10
GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
BASELINES: dict[str, dict[str, Any]] = {
    "most popular": {"kind": "popularity"},
    "co-occurrence (seed)": {"kind": "cooccurrence", "normalization": "count"},
    "item-kNN": {"kind": "itemknn", "k": 100, "shrinkage": 10.0},
}
EASE_GRID = {"l2": [200.0, 300.0, 400.0, 500.0, 700.0]}
#: Grids of ``--tune``; the pipeline defaults were read off these tables.
TUNE_GRIDS: dict[str, dict[str, list[Any]]] = {
    "ease": EASE_GRID,
    "itemknn": {"k": [50, 100, 200], "shrinkage": [0.0, 10.0, 50.0]},
    "rp3beta": {"alpha": [0.6, 0.8, 1.0], "beta": [0.35, 0.5], "k": [200]},
    "sequence": {"window": [5, 20, 40], "n_recent": [10, 50], "recency_decay": [0.9, 1.0]},
    "als": {"factors": [16, 32], "regularization": [10.0, 20.0, 50.0], "alpha": [1.0, 2.0]},
}


def read_movielens(path: Path) -> InteractionData:
    """Read the GroupLens ``u.data``, ``u.item`` and ``u.user`` files."""
    ratings = pd.read_csv(
        path / "u.data",
        sep="\t",
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype={"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"},
    )
    raw = pd.read_csv(path / "u.item", sep="|", header=None, encoding="latin-1")
    flags = raw.iloc[:, 5 : 5 + len(GENRES)].to_numpy().astype(bool)
    items = pd.DataFrame(
        {
            "item_id": raw[0].astype("int64"),
            "year": raw[1].str.extract(r"\((\d{4})\)\s*$")[0].astype("float64"),
            "genres": [tuple(np.array(GENRES)[row].tolist()) for row in flags],
            "title": raw[1].astype(str),
        }
    )
    users = pd.read_csv(
        path / "u.user",
        sep="|",
        names=["user_id", "age", "gender", "occupation", "zip_code"],
        dtype={"zip_code": str},
    )
    return InteractionData(ratings=ratings, items=items, users=users)


def _rss_mb() -> float:
    """Current resident set size (Linux ``/proc``; 0 elsewhere)."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return 0.0
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measured(function: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``function``; return its result, wall seconds and peak RSS (MB) meanwhile.

    RSS is sampled every 20 ms by a thread: tracemalloc would trace every numpy
    allocation and slow the fits several-fold.
    """
    peak = _rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        result = function()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return result, seconds, max(peak, _rss_mb())


def evaluate_lists(
    recommended_ids: np.ndarray, test: pd.DataFrame, user_ids: np.ndarray, n_items: int
) -> dict[str, float]:
    """Top-K metrics of id lists ordered like ``user_ids``."""
    return evaluate_topk(recommended_ids, relevant_lists(test, user_ids), K, n_items)


def run_protocol(
    name: str,
    data: InteractionData,
    train: pd.DataFrame,
    test: pd.DataFrame,
    config: PipelineConfig,
    tune_protocol: str,
    tune_share: float,
) -> tuple[list[dict[str, Any]], RecommenderModel]:
    """Evaluate baselines and the pipeline on one split."""
    users = IdIndex(data.ratings["user_id"])
    items = catalogue_index(data)
    history = build_histories(train, users, items).timestamps
    rows = []
    ease_table = tune_source("ease", EASE_GRID, train, protocol=tune_protocol, share=tune_share)
    ease_l2 = float(ease_table.iloc[0]["l2"])
    baselines = {
        **BASELINES,
        f"EASE (l2={ease_l2:g}, tuned on validation)": {"kind": "ease", "l2": ease_l2},
    }
    for label, spec in baselines.items():
        source, seconds, peak = measured(lambda spec=spec: build_source(spec).fit(history))
        ids, _ = source.recommend(history, K)
        metrics = evaluate_lists(items.id_of(ids), test, users.ids, len(items))
        rows.append(
            {"protocol": name, "model": label, **metrics, "fit s": seconds, "RSS peak MB": peak}
        )
        logger.info("%s / %s: ndcg %.4f", name, label, metrics[f"ndcg@{K}"])
    model, seconds, peak = measured(lambda: fit(config, data.with_ratings(train)))
    batch = recommend(model, train, user_ids=users.ids, topk=K)
    metrics = evaluate_lists(batch.item_ids, test, users.ids, len(items))
    rows.append(
        {
            "protocol": name,
            "model": "**pipeline (LightGBM ranker)**",
            **metrics,
            "fit s": seconds,
            "RSS peak MB": peak,
        }
    )
    logger.info("%s / pipeline: ndcg %.4f", name, metrics[f"ndcg@{K}"])
    return rows, model


def serving_latency(model: RecommenderModel, train: pd.DataFrame) -> dict[str, float]:
    """Single-user in-process latency (ms) and full-batch seconds."""
    by_user = dict(list(train.groupby("user_id")))
    user_ids = np.array(sorted(by_user))
    sample = np.random.default_rng(0).choice(user_ids, size=min(300, user_ids.size), replace=False)
    recommend(model, by_user[sample[0]], topk=K)  # warm-up
    timings = []
    for user in sample:
        started = time.perf_counter()
        recommend(model, by_user[user], topk=K)
        timings.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    recommend(model, train, user_ids=user_ids, topk=K)
    batch_seconds = time.perf_counter() - started
    return {
        "p50 ms": float(np.percentile(timings, 50)),
        "p99 ms": float(np.percentile(timings, 99)),
        "batch s": batch_seconds,
        "users": int(user_ids.size),
    }


def run_classification(data: InteractionData, quick: bool) -> list[dict[str, Any]]:
    """AUC of rating >= 4 on a random 80/20 split of rows."""
    train, test = random_split(data.ratings, ratio=0.8, seed=42)
    labels = (test["rating"] >= 4).to_numpy()
    train_data = data.with_ratings(train)
    rows = []
    # Baseline: user mean + item mean from the training part.
    user_mean = train.groupby("user_id")["rating"].mean()
    item_mean = train.groupby("item_id")["rating"].mean()
    global_mean = train["rating"].mean()
    baseline = (
        test["user_id"].map(user_mean).fillna(global_mean).to_numpy()
        + test["item_id"].map(item_mean).fillna(global_mean).to_numpy()
    )
    rows.append({"model": "user mean + item mean", "AUC": roc_auc(labels, baseline)})
    classifier = RatingClassifier(n_folds=2 if quick else 4)
    model, seconds, peak = measured(lambda: classifier.fit(train_data))
    rows.append(
        {
            "model": "**RatingClassifier (LightGBM, OOF MF + kNN)**",
            "AUC": roc_auc(labels, model.predict_proba(test)),
            "fit s": seconds,
            "RSS peak MB": peak,
        }
    )
    return rows


def tuning_report(protocols: dict[str, tuple[pd.DataFrame, str, float]]) -> list[str]:
    """Top-3 parameter sets per source and protocol (validation carved from train)."""
    lines = [
        "### Tuning (validation split carved from each protocol's training part)",
        "",
        "NDCG@10 on the validation part; it is lower than test NDCG because the test "
        "ratings of each user are missing from both parts and count as misses.",
        "",
    ]
    for name, (train, protocol, share) in protocols.items():
        for kind, grid in TUNE_GRIDS.items():
            table = tune_source(kind, grid, train, protocol=protocol, share=share).head(3)
            lines += [f"**{name} / {kind}**", "", to_markdown(table), ""]
    return lines


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``"1.2/0.9/0.7"``."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cell(column: str, value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    if np.isnan(value):
        return "–"
    if column in ("fit s", "RSS peak MB"):
        return f"{value:.1f}" if column == "fit s" else f"{value:.0f}"
    return f"{value:g}" if value.is_integer() else f"{value:.4f}"


def to_markdown(frame: pd.DataFrame) -> str:
    """Render without the optional ``tabulate`` dependency."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for _, row in frame.iterrows():
        cells = [_cell(column, value) for column, value in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=Path("/work/shared/data/ml-100k"))
    parser.add_argument("--quick", action="store_true", help="one ranker fold, fewer OOF folds")
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    parser.add_argument("--tune", action="store_true", help="append the source tuning grids")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("recommender.engine.data").setLevel(logging.WARNING)
    started = time.perf_counter()
    load_at_start = load_average()
    data = read_movielens(args.path)
    folds = 1 if args.quick else 2
    protocols = {
        "stratified 75/25": (
            stratified_split(data.ratings, ratio=0.75, seed=42),
            PipelineConfig(label_split="random", label_share=0.25, n_folds=folds),
            ("random", 0.25),
        ),
        "time (latest 20%)": (
            time_split(data.ratings, ratio=0.8),
            PipelineConfig(label_split="time", label_share=0.2, n_folds=folds),
            ("time", 0.2),
        ),
    }
    rows, extras = [], []
    for name, ((train, test), config, (tune_protocol, tune_share)) in protocols.items():
        protocol_rows, model = run_protocol(
            name, data, train, test, config, tune_protocol, tune_share
        )
        rows += protocol_rows
        report = model.fit_report
        recall = [v for k, v in report.items() if k.endswith("candidate_recall")]
        importance = list(report["feature_importance"].items())[:10]
        extras.append(
            f"* {name}: candidate recall (share of test ratings among the ranker's "
            f"candidates) {holdout_candidate_recall(model, train, test):.3f} on the test part, "
            f"{', '.join(f'{v:.3f}' for v in recall)} on the internal folds; ranker "
            f"{report['ranker_trees']} trees; top features by gain: "
            + ", ".join(f"`{k}` {v:.0f}" for k, v in importance)
        )
        if name.startswith("stratified"):
            latency = serving_latency(model, train)
    classification = run_classification(data, args.quick)
    tuning = (
        tuning_report(
            {name: (split[0], tune[0], tune[1]) for name, (split, _, tune) in protocols.items()}
        )
        if args.tune
        else []
    )
    table = pd.DataFrame(rows)
    ease = table[table["model"].str.startswith("EASE")].set_index("protocol")[f"ndcg@{K}"]
    pipeline_rows = table[table["model"].str.contains("pipeline")].set_index("protocol")
    ratio = (pipeline_rows[f"ndcg@{K}"] / ease).to_dict()
    command = " ".join(["python", *sys.argv]).replace(str(REPO) + "/", "")
    report = "\n".join(
        [
            f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `.venv/bin/{command}` "
            f"in {time.perf_counter() - started:.0f} s.",
            "",
            f"Machine: {machine_description()}. Load average (1/5/15 min) at start "
            f"{load_at_start}, at end {load_average()}: the machine is shared, and timings "
            "grow with the load.",
            "",
            "### Top-10 ranking",
            "",
            "All held-out ratings are relevant whatever their value; candidates are the "
            "full catalogue minus the user's training items; MAP@10 divides by "
            "min(|relevant|, 10). `fit s` is the wall time of the fit (the pipeline's includes "
            "its internal ranker folds); `RSS peak MB` is the whole process's resident-set "
            "peak during the fit (it includes the data and the models built before).",
            "",
            to_markdown(table),
            "",
            "Pipeline NDCG@10 / EASE NDCG@10: "
            + ", ".join(f"{k}: {v:.3f}" for k, v in ratio.items())
            + ". Targets: stratified NDCG@10 >= 0.49 and P@10 >= 0.43; time-based NDCG@10 "
            ">= 1.25 x EASE; classification AUC >= 0.80; pipeline fit < 60 s. For reference, "
            "the best row of the Microsoft Recommenders MovieLens-100k table (BiVAE, same "
            "stratified protocol) has NDCG@10 0.475 and P@10 0.412; the seed design measured "
            "0.150 (stratified) and 0.069 (time-based).",
            "",
            *extras,
            "",
            "### Serving latency (stratified pipeline, in-process)",
            "",
            f"Single user (history -> candidates -> features -> LightGBM): p50 "
            f"{latency['p50 ms']:.1f} ms, p99 {latency['p99 ms']:.1f} ms over 300 users; "
            f"batch of all {latency['users']} users {latency['batch s']:.1f} s.",
            "",
            "### Rating classification (rating >= 4, random 80/20 rows)",
            "",
            to_markdown(pd.DataFrame(classification)),
            "",
            f"Process peak RSS: {peak_rss_mb():.0f} MB.",
            "",
            *tuning,
        ]
    )
    print(report)
    if args.write:
        write_section("offline-eval", "Offline quality (MovieLens-100k)", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
