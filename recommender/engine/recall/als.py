"""Implicit-feedback ALS (Hu, Koren & Volinsky, 2008) from the ``implicit`` library.

``implicit`` fits with multithreaded conjugate-gradient sweeps in native code
(Takacs et al., 2011) and folds a new history in with ``recalculate_user`` (an exact
Cholesky solve per row), which is what scoring needs: serving and the ranker's folds
score users from their *current* histories. ``benchmarks/als_compare.py`` measured it
against the numpy ALS it replaced.

:func:`ridge_rows` is the batched ridge solve that the explicit biased MF of the like
model (:mod:`recommender.engine.liking`) runs.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recommender.engine.recall.base import (
    BaseRecallSource,
    State,
    _check_non_negative,
    _check_positive_int,
    binarize,
)
from recommender.engine.recall.blocks import training_threads

logger = logging.getLogger(__name__)

# Bounds the (nnz, f, f) outer-product buffer of one solve batch (~64 MB at f=32).
_MAX_BATCH_NNZ = 8192
# Up to this many rows, ridge_rows solves row by row (the serving case).
_SMALL_BATCH_ROWS = 8
# Below this many interactions one thread fits faster: OpenMP's fork/join per half-sweep
# costs more than the work (a 60 x 40 test matrix took 1.8 s on two busy cores, 1 ms on one).
_PARALLEL_MIN_NNZ = 50_000


def ridge_rows(
    targets: sp.csr_matrix, factors: np.ndarray, base: np.ndarray, weight: float
) -> np.ndarray:
    """Solve ``(base + weight * sum_j y_j y_j^T) x_u = sum_j t_uj y_j`` for every row.

    The sums run over the row's stored entries ``j`` with values ``t_uj``; with
    ``base = reg I`` this is the half-step of explicit biased MF.

    Parameters
    ----------
    targets : scipy.sparse.csr_matrix, shape (n_rows, n_cols)
    factors : numpy.ndarray, shape (n_cols, f)
    base : numpy.ndarray, shape (f, f)
    weight : float

    Returns
    -------
    numpy.ndarray, shape (n_rows, f)
        Rows without entries solve ``base x = 0``, i.e. get zero factors.
    """
    n_rows = targets.shape[0]
    n_factors = factors.shape[1]
    result = np.zeros((n_rows, n_factors))
    if n_rows <= _SMALL_BATCH_ROWS:
        # One or a few rows: plain dense solves avoid the fixed cost of building
        # sparse indicator matrices, which dominates there.
        for row in range(n_rows):
            entries = slice(targets.indptr[row], targets.indptr[row + 1])
            history = factors[targets.indices[entries]]
            lhs = base + weight * (history.T @ history)
            result[row] = np.linalg.solve(lhs, history.T @ targets.data[entries])
        return result
    start = 0
    while start < n_rows:
        # Grow the batch until it holds _MAX_BATCH_NNZ entries (at least one row).
        stop = int(np.searchsorted(targets.indptr, targets.indptr[start] + _MAX_BATCH_NNZ, "right"))
        stop = min(max(stop - 1, start + 1), n_rows)
        batch = targets[start:stop]
        history = factors[batch.indices]
        # Summing per-entry outer products per row with a sparse indicator handles
        # empty rows without a Python loop.
        indicator = sp.csr_matrix(
            (np.ones(batch.nnz), np.arange(batch.nnz), batch.indptr),
            shape=(stop - start, batch.nnz),
        )
        outer = (history[:, :, None] * history[:, None, :]).reshape(batch.nnz, -1)
        gram = (indicator @ outer).reshape(-1, n_factors, n_factors)
        rhs = indicator @ (history * batch.data[:, None])
        result[start:stop] = np.linalg.solve(base + weight * gram, rhs[:, :, None])[:, :, 0]
        start = stop
    return result


class ALSSource(BaseRecallSource):
    """Implicit ALS with few factors; scores fold the current history in.

    Several independently seeded models can be averaged (``n_models``), which
    reduces the variance of a small-factor model. Observed entries get confidence
    ``1 + alpha`` (unobserved ones 1), as in Hu et al.; ``implicit`` takes the
    confidence itself, hence its ``alpha = 1 + alpha``.

    Parameters
    ----------
    factors : int
        Latent dimension (16-32 suits MovieLens-100k).
    regularization : float
        L2 penalty on the factors (> 0).
    alpha : float
        Confidence boost of observed entries (>= 0).
    iterations : int
        ALS sweeps.
    cg_steps : int
        Conjugate-gradient steps per half-sweep during training (fold-in at
        scoring time is an exact solve).
    n_models : int
        Number of seeded models whose scores are averaged.
    seed : int
        Seed of the first model; model ``m`` uses ``seed + m``.

    Notes
    -----
    Fits run on :func:`~.blocks.training_threads` OpenMP threads (the trainer sets
    them from ``VIDEOREC_TRAINING_THREADS``), fold-ins on one.
    """

    name: ClassVar[str] = "als"
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
        _check_positive_int("factors", factors)
        _check_non_negative("regularization", regularization)
        if regularization == 0:
            raise ValueError("regularization must be > 0 to keep the solves well posed")
        _check_non_negative("alpha", alpha)
        _check_positive_int("iterations", iterations)
        _check_positive_int("cg_steps", cg_steps)
        _check_positive_int("n_models", n_models)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        super().__init__(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            cg_steps=cg_steps,
            n_models=n_models,
            seed=seed,
        )
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.n_models = n_models
        self.seed = seed
        self.item_factors_: np.ndarray | None = None
        self._fold_in: list[AlternatingLeastSquares] = []

    def _model(self, seed: int, item_factors: np.ndarray | None = None) -> AlternatingLeastSquares:
        # BLAS threads would only contend with implicit's own OpenMP threads (its
        # documented advice); the solver is native code.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0 + self.alpha,
                iterations=self.iterations,
                random_state=seed,
            )
        model.cg_steps = self.cg_steps
        if item_factors is not None:
            model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        return model

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Alternate conjugate-gradient user and item sweeps, per seeded model.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        binary = binarize(interactions).astype(np.float32)
        models = []
        threads = training_threads() if binary.nnz >= _PARALLEL_MIN_NNZ else 1
        for model_index in range(self.n_models):
            model = self._model(self.seed + model_index)
            model.num_threads = threads
            with threadpool_limits(1, "blas"):
                model.fit(binary, show_progress=False)
            models.append(model.item_factors)
        self.item_factors_ = np.stack(models)
        self.n_items_ = int(binary.shape[1])
        self._fold_in = []
        logger.debug("als fitted: %d models x %s item factors", self.n_models, binary.shape)
        return self

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Fold each history row in and average the models' dot products.

        Returns
        -------
        numpy.ndarray, shape (n_rows, n_items)
        """
        binary = binarize(self._check_user_items(user_items)).astype(np.float32)
        if not self._fold_in:
            # Built once per fitted or restored model: construction inspects the
            # thread pools, too slow for every request.
            self._fold_in = [self._model(self.seed, factors) for factors in self.item_factors_]
            for model in self._fold_in:
                # One thread: OpenMP start-up costs more than a serving batch's solves.
                model.num_threads = 1
        rows = np.arange(binary.shape[0])
        total = np.zeros(binary.shape)
        for model in self._fold_in:
            total += model.recalculate_user(rows, binary) @ model.item_factors.T
        return total / len(self._fold_in)

    def set_state(self, state: State) -> None:
        """Restore the item factors; fold-in models are rebuilt on the next score."""
        super().set_state(state)
        self._fold_in = []

    def _similarity_rows(self, item_indices: np.ndarray) -> np.ndarray:
        # Cosine between item factors, averaged over the models.
        total = np.zeros((len(item_indices), self._check_fitted()))
        for item_factors in self.item_factors_:
            norms = np.linalg.norm(item_factors, axis=1)
            norms[norms == 0] = 1.0
            unit = item_factors / norms[:, None]
            total += unit[item_indices] @ unit.T
        return total / len(self.item_factors_)
