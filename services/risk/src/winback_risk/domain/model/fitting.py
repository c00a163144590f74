"""Maximum likelihood on log-parameters: every model parameter is positive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


class FitFailed(RuntimeError):
    """The optimiser found no finite optimum (degenerate or too little data)."""


@dataclass(frozen=True, slots=True)
class FitResult:
    params: tuple[float, ...]
    log_likelihood: float
    iterations: int
    evaluations: int
    converged: bool


def maximise(
    total_ll: Callable[[Floats], float],
    start: Floats,
    *,
    max_iterations: int = 500,
    tolerance: float = 1e-10,
    upper: Floats | None = None,
) -> FitResult:
    """Maximise `total_ll(params)` over positive params via unconstrained log-parameters.

    L-BFGS-B with numerical gradients needs few evaluations for 3-4 parameters; a Nelder-Mead
    polish follows only when it stopped without converging (flat or noisy surfaces).
    """
    # Imported here: scoring needs this module's types but never fits, and scipy.optimize (with
    # scipy.linalg) is about 0.4 s of a consumer process's start-up, before it can join its group.
    from scipy.optimize import minimize

    def objective(log_params: Floats) -> float:
        with np.errstate(over="ignore"):
            value = total_ll(np.exp(log_params))
        # A non-finite value is a wall, not an optimum: steer the optimiser away from it.
        return -value if np.isfinite(value) else 1e300

    bounds = None if upper is None else [(None, float(np.log(u))) for u in upper]
    x0 = np.log(start) if upper is None else np.minimum(np.log(start), np.log(upper))
    first = minimize(
        objective, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iterations, "ftol": tolerance}
    )
    result = first
    if not first.success:
        result = minimize(
            objective, first.x, method="Nelder-Mead", bounds=bounds, options={"maxiter": max_iterations * 4}
        )
    if not np.isfinite(result.fun) or result.fun >= 1e300:
        raise FitFailed(f"no finite optimum: {result.message}")
    return FitResult(
        params=tuple(float(v) for v in np.exp(result.x)),
        log_likelihood=float(-result.fun),
        iterations=int(first.nit + (result.nit if result is not first else 0)),
        evaluations=int(first.nfev + (result.nfev if result is not first else 0)),
        converged=bool(result.success),
    )
