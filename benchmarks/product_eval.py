"""Offline quality of the product itself, through the commands a user runs.

For every split of MovieLens-100k (per-user stratified 75/25 on two seeds, each user's
latest 20% by time) and every ranker setting, this script does what a new user would:

1. write the training part as a GroupLens folder (``u.data`` of the training ratings,
   the original ``u.item``, ``u.user``, ``u.genre``);
2. a fresh SQLite database: ``migrate``, ``loadml100k --path``;
3. ``train`` (timed, whole command) with the setting in the environment;
4. ``recommend --all --topk 10 --output FILE``;
5. score the file against the held-out part: every held-out rating relevant, full
   catalogue minus the user's training items (the product never recommends a rated
   movie), K=10, with the engine's metric functions.

The baselines (most popular, item-kNN, EASE with l2 tuned on a validation split carved
from the training part only) are fitted on the same training part in this process. The
run's own figures (the rating >= 4 AUC of its like model next to the user mean + item mean
baseline) are read from its ``ModelRun`` row.

Results are kept in a JSON file (``--results``), so the table can be built from several
invocations; ``--write`` replaces the ``product-eval`` section of ``docs/benchmarks.md``.

Usage::

    .venv/bin/python benchmarks/product_eval.py [--path DIR] [--splits stratified-42 ...]
        [--labels default time random] [--results FILE] [--report-only] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from commands import manage as run_manage
from report import machine_description, write_section

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from source_tuning import tune_source  # noqa: E402

from recommender.engine.config import TUNED_SOURCES, build_source  # noqa: E402
from recommender.engine.data import IdIndex, build_histories  # noqa: E402
from recommender.engine.evaluation import relevant_lists  # noqa: E402
from recommender.engine.metrics import evaluate_topk  # noqa: E402
from recommender.engine.splits import stratified_split, time_split  # noqa: E402

K = 10
N_ITEMS = 1682
SPLITS = ("stratified-42", "stratified-7", "time")
SIDE_FILES = ("u.item", "u.user", "u.genre")
EASE_GRID = {"l2": [200.0, 300.0, 400.0, 500.0, 700.0, 1000.0]}
METRICS = (f"ndcg@{K}", f"precision@{K}", f"recall@{K}", f"map@{K}")
DEFAULT_RESULTS = Path(tempfile.gettempdir()) / "videorec-product-eval.json"


def read_ratings(path: Path) -> pd.DataFrame:
    """``u.data`` as the engine's ratings frame."""
    return pd.read_csv(
        path / "u.data",
        sep="\t",
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype={"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"},
    )


def split(ratings: pd.DataFrame, name: str) -> tuple[pd.DataFrame, pd.DataFrame, str, float]:
    """``(train, test, validation protocol, validation share)`` of a split name."""
    if name == "time":
        train, test = time_split(ratings, 0.8)
        return train, test, "time", 0.2
    kind, seed = name.split("-")
    if kind != "stratified":
        raise ValueError(f"unknown split {name!r}: stratified-<seed> or time")
    train, test = stratified_split(ratings, 0.75, seed=int(seed))
    return train, test, "random", 0.25


def score_lists(lists: pd.DataFrame, test: pd.DataFrame, users: np.ndarray) -> dict[str, float]:
    """Top-K metrics of ``lists`` (user_id, item_id, rank) on the held-out ratings."""
    recommended = np.full((users.size, K), -1, dtype=np.int64)
    row_of = {int(user): row for row, user in enumerate(users)}
    top = lists[lists["rank"] <= K]
    rows = top["user_id"].map(row_of)
    known = rows.notna().to_numpy()
    recommended[
        rows[known].to_numpy(dtype=np.int64), top["rank"].to_numpy(dtype=np.int64)[known] - 1
    ] = top["item_id"].to_numpy(dtype=np.int64)[known]
    return evaluate_topk(recommended, relevant_lists(test, users), K, N_ITEMS)


def baselines(
    train: pd.DataFrame, test: pd.DataFrame, protocol: str, share: float
) -> dict[str, dict[str, float]]:
    """Most popular, item-kNN and validation-tuned EASE, fitted on ``train`` only."""
    users = np.intersect1d(train["user_id"].unique(), test["user_id"].unique())
    user_index, items = IdIndex(users), IdIndex(np.arange(1, N_ITEMS + 1))
    history = build_histories(train, user_index, items).timestamps
    grid = tune_source("ease", EASE_GRID, train, protocol=protocol, share=share)
    l2 = float(grid.iloc[0]["l2"])
    specs = {
        "most popular": {"kind": "popularity"},
        "item-kNN": dict(TUNED_SOURCES["itemknn"]),
        "EASE": {"kind": "ease", "l2": l2},
    }
    results = {}
    for name, spec in specs.items():
        ids, _ = build_source(spec).fit(history).recommend(history, K)
        lists = pd.DataFrame(
            {
                "user_id": np.repeat(users, K),
                "item_id": items.id_of(ids).ravel(),
                "rank": np.tile(np.arange(1, K + 1), users.size),
            }
        )
        results[name] = score_lists(lists[lists["item_id"] >= 0], test, users)
    results["EASE"]["l2"] = l2
    return results


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def product_run(
    path: Path, train: pd.DataFrame, test: pd.DataFrame, settings: dict[str, str]
) -> dict[str, Any]:
    """Load ``train`` into a fresh database, train, export, score; the run's own record."""
    with tempfile.TemporaryDirectory(prefix="product-eval-") as scratch:
        work = Path(scratch)
        folder = work / "ml-100k"
        folder.mkdir()
        train.to_csv(folder / "u.data", sep="\t", header=False, index=False)
        for name in SIDE_FILES:
            shutil.copy(path / name, folder / name)
        database = work / "db.sqlite3"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VIDEOREC_")},
            "DJANGO_SETTINGS_MODULE": "videorec_site.settings.local",
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DATABASE_URL": f"sqlite:///{database}",
            "MEDIA_ROOT": str(work / "media"),
            "VIDEOREC_DATA_DIR": str(work / "data"),
            "LOG_LEVEL": "WARNING",
            **settings,
        }
        for name in ("CELERY_BROKER_URL", "CACHE_URL"):
            env.pop(name, None)  # no broker: Celery runs eagerly in the command

        manage = partial(run_manage, env)

        manage("migrate", "-v0")
        manage("loadml100k", "--path", str(folder))
        started, cpu_before = time.perf_counter(), _children_cpu()
        manage("train")
        train_seconds = time.perf_counter() - started
        # CPU time does not grow when other processes share the machine, and a 2-core run
        # never takes longer than it: an upper bound of the wall time on a quiet machine.
        train_cpu = _children_cpu() - cpu_before
        export = work / "recs.tsv"
        manage("recommend", "--all", "--topk", str(K), "--output", str(export))
        lists = pd.read_csv(export, sep="\t")
        with sqlite3.connect(database) as connection:
            params, metrics = connection.execute(
                "SELECT params, metrics FROM recommender_modelrun ORDER BY id DESC LIMIT 1"
            ).fetchone()
    users = np.intersect1d(train["user_id"].unique(), test["user_id"].unique())
    return {
        "metrics": score_lists(lists, test, users),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "params": json.loads(params),
        "run_metrics": json.loads(metrics),
    }


def setting_env(labels: str, relevance: str) -> dict[str, str]:
    """Environment of one product setting (``default``: the variable left unset)."""
    env = {}
    if labels != "default":
        env["VIDEOREC_RANKER_LABELS"] = labels
    if relevance != "default":
        env["VIDEOREC_RELEVANCE"] = relevance
    return env


def measure(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Run every requested (split, setting) not yet in ``results``; save after each."""
    ratings = read_ratings(args.path)
    for split_name in args.splits:
        train, test, protocol, share = split(ratings, split_name)
        entry = results.setdefault(split_name, {"settings": {}})
        if "baselines" not in entry:
            entry["baselines"] = baselines(train, test, protocol, share)
            entry["sizes"] = {"train": len(train), "test": len(test)}
        for labels in args.labels:
            key = f"{labels}/{args.relevance}"
            if key in entry["settings"] and not args.again:
                continue
            print(f"{split_name} {key}: training…", flush=True)
            entry["settings"][key] = product_run(
                args.path, train, test, setting_env(labels, args.relevance)
            )
            run = entry["settings"][key]
            print(
                f"  ndcg@{K} {run['metrics'][f'ndcg@{K}']:.4f} "
                f"(EASE {entry['baselines']['EASE'][f'ndcg@{K}']:.4f}), "
                f"train {run['train_seconds']:.0f} s",
                flush=True,
            )
            args.results.write_text(json.dumps(results, indent=1))


def _train_time(run: dict[str, Any]) -> str:
    cpu = run.get("train_cpu_seconds")
    return f"{run['train_seconds']:.0f}" + (f" ({cpu:.0f})" if cpu is not None else "")


def _setting(run: dict[str, Any]) -> str:
    pipeline = run["params"].get("pipeline", {})
    return f"{pipeline.get('label_split')}/{pipeline.get('relevance', 'rated')}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def report(results: dict[str, Any]) -> str:
    """The Markdown section: one row per (split, setting), baselines of the same split."""
    lines = [
        _row(
            [
                "split",
                "setting (labels/relevance)",
                f"NDCG@{K}",
                f"P@{K}",
                f"R@{K}",
                "× EASE",
                "× item-kNN",
                "× popular",
                "train s (CPU s)",
                "like AUC (baseline)",
            ]
        ),
        _row(["---", "---", *["---:"] * 8]),
    ]
    for split_name, entry in results.items():
        base = entry["baselines"]
        for name, values in base.items():
            label = f"{name} (l2={values['l2']:.0f})" if "l2" in values else name
            cells = [f"{values[m]:.4f}" for m in METRICS[:3]]
            lines.append(_row([split_name, f"baseline: {label}", *cells, *["–"] * 5]))
        for key, run in sorted(entry["settings"].items(), key=lambda pair: _setting(pair[1])):
            values = run["metrics"]
            ndcg = values[f"ndcg@{K}"]
            ratios = [
                f"{ndcg / base[name][f'ndcg@{K}']:.3f}"
                for name in ("EASE", "item-kNN", "most popular")
            ]
            like = run["run_metrics"].get("like", {})
            auc = (
                f"{like['auc']:.4f} ({like['baseline_auc']:.4f})"
                if "auc" in like and "baseline_auc" in like
                else "–"
            )
            setting = _setting(run)
            if key.startswith("default/"):
                setting += " (default)"
            cells = [f"{values[m]:.4f}" for m in METRICS[:3]]
            lines.append(_row([split_name, setting, *cells, *ratios, _train_time(run), auc]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=Path("/work/shared/data/ml-100k"))
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    parser.add_argument("--labels", nargs="+", default=["default", "time", "random", "mixed"])
    parser.add_argument("--relevance", default="default")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--again", action="store_true", help="re-measure settings already kept")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if not args.report_only:
        measure(args, results)
    body = "\n".join(
        [
            f"Machine: {machine_description()}. Whole `manage.py train` commands (its own "
            "evaluation included) on a fresh SQLite database per row; baselines fitted on the "
            "same training part in the benchmark's process.",
            "",
            report(results),
            "",
            "Command: `.venv/bin/python benchmarks/product_eval.py --path <GroupLens folder> "
            "--write` (every split and setting; `--splits`, `--labels` and `--relevance` measure "
            "a subset, and `--results FILE` keeps the rows between invocations).",
        ]
    )
    print(body)
    if args.write:
        write_section("product-eval", "Offline quality of the product (MovieLens-100k)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
