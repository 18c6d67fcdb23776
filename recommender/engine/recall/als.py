"""Implicit-feedback ALS (Hu, Koren & Volinsky, 2008) in numpy, with fold-in."""

from __future__ import annotations

import logging
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.engine.recall.base import (
    BaseRecallSource,
    _check_non_negative,
    _check_positive_int,
    binarize,
)

logger = logging.getLogger(__name__)

# Bounds the (nnz, f, f) outer-product buffer of one solve batch (~64 MB at f=32).
_MAX_BATCH_NNZ = 8192
# Up to this many rows, ridge_rows solves row by row (the serving case).
_SMALL_BATCH_ROWS = 8


def ridge_rows(
    targets: sp.csr_matrix, factors: np.ndarray, base: np.ndarray, weight: float
) -> np.ndarray:
    """Solve ``(base + weight * sum_j y_j y_j^T) x_u = sum_j t_uj y_j`` for every row.

    The sums run over the row's stored entries ``j`` with values ``t_uj``.  Both
    implicit ALS (``base = Y^T Y + reg I``) and explicit biased MF (``base =
    reg I``) reduce to this; it is also the fold-in of a new history row.

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
        # Serving folds in one or a few users: plain dense solves avoid the fixed
        # cost of building sparse indicator matrices, which dominates there.
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


def solve_rows(
    binary: sp.csr_matrix, factors: np.ndarray, alpha: float, regularization: float
) -> np.ndarray:
    """Exact implicit-ALS factors of every row given the other side's factors.

    Minimises ``sum_j c_uj (p_uj - x_u . y_j)^2 + reg |x_u|^2`` with confidence
    ``c_uj = 1 + alpha`` on observed entries and 1 elsewhere.  This is both the
    ALS half-step and the fold-in of a new history row.

    Parameters
    ----------
    binary : scipy.sparse.csr_matrix, shape (n_rows, n_cols)
        1 on observed entries.
    factors : numpy.ndarray, shape (n_cols, f)
    alpha, regularization : float

    Returns
    -------
    numpy.ndarray, shape (n_rows, f)
        Rows without entries get zero factors.
    """
    base = factors.T @ factors + regularization * np.eye(factors.shape[1])
    return ridge_rows(binary * (1.0 + alpha), factors, base, alpha)


def conjugate_gradient_rows(
    binary: sp.csr_matrix,
    factors: np.ndarray,
    start: np.ndarray,
    alpha: float,
    regularization: float,
    steps: int,
) -> np.ndarray:
    """Approximate :func:`solve_rows` by a few conjugate-gradient steps.

    Every row is solved at once with O(nnz * f) work per step instead of the
    O(nnz * f^2) of forming the normal equations (Takacs et al., 2011), which
    makes training several times faster; warm-starting from the previous sweep's
    factors keeps the approximation tight.

    Parameters
    ----------
    binary : scipy.sparse.csr_matrix, shape (n_rows, n_cols)
    factors : numpy.ndarray, shape (n_cols, f)
    start : numpy.ndarray, shape (n_rows, f)
        Initial guess.
    alpha, regularization : float
    steps : int

    Returns
    -------
    numpy.ndarray, shape (n_rows, f)
    """
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


class ALSSource(BaseRecallSource):
    """Implicit ALS with few factors; scores fold the current history in.

    Several independently seeded models can be averaged (``n_models``), which
    reduces the variance of a small-factor model.

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

    def fit(self, interactions: sp.csr_matrix) -> Self:
        """Alternate exact user and item solves.

        Parameters
        ----------
        interactions : scipy.sparse.csr_matrix, shape (n_users, n_items)
        """
        binary = binarize(interactions)
        binary_t = sp.csr_matrix(binary.T)
        models = []
        for model in range(self.n_models):
            rng = np.random.default_rng(self.seed + model)
            item_factors = rng.normal(scale=0.01, size=(binary.shape[1], self.factors))
            user_factors = np.zeros((binary.shape[0], self.factors))
            for _ in range(self.iterations):
                user_factors = conjugate_gradient_rows(
                    binary, item_factors, user_factors, *self._solver_args
                )
                item_factors = conjugate_gradient_rows(
                    binary_t, user_factors, item_factors, *self._solver_args
                )
            models.append(item_factors)
        self.item_factors_ = np.stack(models)
        self.n_items_ = int(binary.shape[1])
        logger.debug("als fitted: %d models x %s item factors", self.n_models, binary.shape)
        return self

    @property
    def _solver_args(self) -> tuple[float, float, int]:
        return self.alpha, self.regularization, self.cg_steps

    def score(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Fold each history row in and average the models' dot products.

        Returns
        -------
        numpy.ndarray, shape (n_rows, n_items)
        """
        binary = binarize(self._check_user_items(user_items))
        total = np.zeros(binary.shape)
        for item_factors in self.item_factors_:
            user_factors = solve_rows(binary, item_factors, self.alpha, self.regularization)
            total += user_factors @ item_factors.T
        return total / len(self.item_factors_)

    def _similarity_rows(self, item_indices: np.ndarray) -> np.ndarray:
        # Cosine between item factors, averaged over the models.
        total = np.zeros((len(item_indices), self._check_fitted()))
        for item_factors in self.item_factors_:
            norms = np.linalg.norm(item_factors, axis=1)
            norms[norms == 0] = 1.0
            unit = item_factors / norms[:, None]
            total += unit[item_indices] @ unit.T
        return total / len(self.item_factors_)
