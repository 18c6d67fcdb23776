"""ALS from ``implicit`` against the hand-written numpy ALS it replaced, in one run.

* Quality at MovieLens-100k: the engine's own offline evaluation
  (:func:`~recommender.engine.evaluation.evaluate_holdout`, time and stratified
  protocols) of the whole pipeline with either ALS as its ``als`` source, and of ALS
  alone as a baseline.
* Fit time and peak RSS of one ALS fit (the tuned configuration: 32 factors, 8
  iterations, 3 seeded models) at each given data shape, every fit in a fresh process
  so its peak RSS is its own (the process also holds the ratings frame; the RSS after
  loading is printed too).

The numpy ALS lives on here only, for this comparison.

Usage::

    .venv/bin/python benchmarks/als_compare.py [--ml100k DIR] \
        [--shape ml-1m=/data/ml-1m --shape ml-10m=...] [--numpy-max-ratings N]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import time
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from movielens_frames import peak_rss_mb, read_release
from report import machine_description

from recommender.engine.config import TUNED_SOURCES, PipelineConfig
from recommender.engine.data import IdIndex, build_histories, catalogue_index
from recommender.engine.evaluation import evaluate_holdout
from recommender.engine.recall import SOURCE_CLASSES, BaseRecallSource
from recommender.engine.recall.als import ridge_rows
from recommender.engine.recall.base import binarize

logger = logging.getLogger("als_compare")


def conjugate_gradient_rows(
    binary: sp.csr_matrix,
    factors: np.ndarray,
    start: np.ndarray,
    alpha: float,
    regularization: float,
    steps: int,
) -> np.ndarray:
    """Implicit-ALS half-step by a few conjugate-gradient steps (the removed numpy code)."""
    base = factors.T @ factors + regularization * np.eye(factors.shape[1])
    rows = np.repeat(np.arange(binary.shape[0]), np.diff(binary.indptr))
    history = factors[binary.indices]
    indicator = sp.csr_matrix(
        (np.ones(binary.nnz), np.arange(binary.nnz), binary.indptr),
        shape=(binary.shape[0], binary.nnz),
    )

    def apply(vectors: np.ndarray) -> np.ndarray:
        projections = np.einsum("nf,nf->n", history, vectors[rows])
        return vectors @ base + alpha * (indicator @ (history * projections[:, None]))

    solution = start.copy()
    residual = (1.0 + alpha) * (indicator @ history) - apply(solution)
    direction = residual.copy()
    residual_norm = np.einsum("uf,uf->u", residual, residual)
    for _ in range(steps):
        applied = apply(direction)
        curvature = np.einsum("uf,uf->u", direction, applied)
        step = np.divide(
            residual_norm, curvature, out=np.zeros_like(curvature), where=curvature > 0
        )
        solution += step[:, None] * direction
        residual -= step[:, None] * applied
        new_norm = np.einsum("uf,uf->u", residual, residual)
        ratio = np.divide(
            new_norm, residual_norm, out=np.zeros_like(new_norm), where=residual_norm > 0
        )
        direction = residual + ratio[:, None] * direction
        residual_norm = new_norm
    return solution


class NumpyALSSource(BaseRecallSource):
    """The numpy ALS the engine had before ``implicit`` (same parameters and fold-in)."""

    name: ClassVar[str] = "als_numpy"
    _state_fields: ClassVar[tuple[str, ...]] = ("item_factors_",)

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 20.0,
        alpha: float = 2.0,
        iterations: int = 15,
        cg_steps: int = 3,
        n_models: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            cg_steps=cg_steps,
            n_models=n_models,
            seed=seed,
        )
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.cg_steps, self.n_models, self.seed = (
            iterations,
            cg_steps,
            n_models,
            seed,
        )
        self.item_factors_: np.ndarray | None = None

    def fit(self, interactions: sp.csr_matrix) -> Self:
        binary = binarize(interactions)
        binary_t = sp.csr_matrix(binary.T)
        args = (self.alpha, self.regularization, self.cg_steps)
        models = []
        for model in range(self.n_models):
            rng = np.random.default_rng(self.seed + model)
            item_factors = rng.normal(scale=0.01, size=(binary.shape[1], self.factors))
            user_factors = np.zeros((binary.shape[0], self.factors))
            for _ in range(self.iterations):
                user_factors = conjugate_gradient_rows(binary, item_factors, user_factors, *args)
                item_factors = conjugate_gradient_rows(binary_t, user_factors, item_factors, *args)
            models.append(item_factors)
        self.item_factors_ = np.stack(models)
        self.n_items_ = int(binary.shape[1])
        return self

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        binary = binarize(self._check_user_items(user_items))
        total = np.zeros(binary.shape)
        for item_factors in self.item_factors_:
            base = item_factors.T @ item_factors + self.regularization * np.eye(self.factors)
            user_factors = ridge_rows(binary * (1.0 + self.alpha), item_factors, base, self.alpha)
            total += user_factors @ item_factors.T
        return total / len(self.item_factors_)


IMPLEMENTATIONS = {"implicit": "als", "numpy": "als_numpy"}


def quality(path: Path) -> list[dict[str, Any]]:
    """Offline evaluation of the pipeline and of ALS alone, per implementation and protocol."""
    data = read_release(path)
    rows = []
    for label, kind in IMPLEMENTATIONS.items():
        spec = {**TUNED_SOURCES["als"], "kind": kind}
        base = PipelineConfig()
        config = PipelineConfig(sources={**base.sources, "als": spec})
        for protocol in ("time", "stratified"):
            started = time.perf_counter()
            report = evaluate_holdout(
                data, config, protocol=protocol, test_share=0.2, seed=42, baselines={"als": spec}
            )
            rows.append(
                {
                    "als": label,
                    "protocol": protocol,
                    "system ndcg@10": report.system["ndcg@10"],
                    "system recall@10": report.system["recall@10"],
                    "system auc": report.system["auc"],
                    "als alone ndcg@10": report.baselines["als"]["ndcg@10"],
                    "als alone auc": report.baselines["als"]["auc"],
                    "als alone fit+rank s": report.seconds["als"],
                    "evaluation s": round(time.perf_counter() - started, 1),
                }
            )
            logger.info("%s", rows[-1])
    return rows


def fit_once(kind: str, path: str, queue: Any) -> None:
    """Child process: load ``path``, fit one ALS, report seconds and RSS."""
    SOURCE_CLASSES["als_numpy"] = NumpyALSSource
    data = read_release(Path(path))
    users = IdIndex(data.ratings["user_id"].to_numpy())
    history = build_histories(data.ratings, users, catalogue_index(data)).timestamps
    del data
    loaded = peak_rss_mb()
    spec = {key: value for key, value in TUNED_SOURCES["als"].items() if key != "kind"}
    started = time.perf_counter()
    SOURCE_CLASSES[kind](**spec).fit(history)
    queue.put(
        {
            "ratings": int(history.nnz),
            "fit s": round(time.perf_counter() - started, 1),
            "RSS after load MB": round(loaded),
            "peak RSS MB": round(peak_rss_mb()),
        }
    )


def fit_costs(shapes: dict[str, Path], numpy_max_ratings: int) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    rows = []
    for shape, path in shapes.items():
        for label, kind in IMPLEMENTATIONS.items():
            queue = context.Queue()
            child = context.Process(target=fit_once, args=(kind, str(path), queue))
            child.start()
            result = queue.get()
            child.join()
            rows.append({"shape": shape, "als": label, **result})
            logger.info("%s", rows[-1])
            if label == "numpy" and result["ratings"] > numpy_max_ratings:
                break
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ml100k", type=Path, default=Path("/work/shared/data/ml-100k"))
    parser.add_argument("--shape", action="append", default=[], help="NAME=FOLDER")
    parser.add_argument(
        "--numpy-max-ratings",
        type=int,
        default=11_000_000,
        help="skip the numpy fit on larger shapes (it took >25 min at 25M)",
    )
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    SOURCE_CLASSES["als_numpy"] = NumpyALSSource
    shapes = {"ml-100k": args.ml100k}
    shapes.update(dict(item.split("=", 1) for item in args.shape))
    shapes = {name: Path(folder) for name, folder in shapes.items()}
    print(f"Machine: {machine_description()}\n")
    if not args.skip_quality:
        print("Quality at MovieLens-100k (engine offline evaluation):\n")
        print(table(quality(args.ml100k)) + "\n")
    print("One ALS fit (32 factors, 8 iterations, 3 models), fresh process each:\n")
    rows = fit_costs(shapes, args.numpy_max_ratings)
    print(table(rows))


if __name__ == "__main__":
    main()
