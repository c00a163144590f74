"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987) as derived by Fader & Hardie (2005).

Inputs per customer: x repeat purchase occasions, t_x the time of the last one and T the
time observed, both measured from the first purchase (in any one time unit). Unlike BG/NBD,
a customer without repeat purchases (x = 0) gets P(alive) < 1, falling with T.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import gammaln, hyp2f1

from winback_risk.domain.model.fitting import FitResult, Floats, maximise

NAME = "pareto_nbd"


@dataclass(frozen=True, slots=True)
class ParetoNBD:
    """Population parameters: purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta)."""

    r: float
    alpha: float
    s: float
    beta: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}


def _log_a0(p: ParetoNBD, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """log of A0 in Fader & Hardie's note (the integral over the unobserved dropout time)."""
    r, alpha, s, beta = p.r, p.alpha, p.s, p.beta
    rsx = r + s + x
    # The hypergeometric argument must lie in [0, 1): expand around the larger of alpha, beta.
    b: Floats | float
    if alpha >= beta:
        b, big = s + 1.0, alpha
        z1, z2 = (alpha - beta) / (alpha + t_x), (alpha - beta) / (alpha + T)
    else:
        b, big = r + x, beta
        z1, z2 = (beta - alpha) / (beta + t_x), (beta - alpha) / (beta + T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first = np.log(hyp2f1(rsx, b, rsx + 1.0, z1)) - rsx * np.log(big + t_x)
        second = np.log(hyp2f1(rsx, b, rsx + 1.0, z2)) - rsx * np.log(big + T)
        # first >= second (t_x <= T); log(e^first - e^second) without cancellation.
        return first + np.log(-np.expm1(second - first))  # type: ignore[no-any-return]


def _log_terms(p: ParetoNBD, x: Floats, t_x: Floats, T: Floats) -> tuple[Floats, Floats]:
    """(log of the 'alive at T' term, log of the 'died in (t_x, T]' term) of the likelihood."""
    alive = -(p.r + x) * np.log(p.alpha + T) - p.s * np.log(p.beta + T)
    died = np.log(p.s / (p.r + p.s + x)) + _log_a0(p, x, t_x, T)
    # t_x == T leaves no room to die unobserved: that term is exactly zero.
    died = np.where(t_x < T, died, -np.inf)
    return alive, died


def log_likelihood(p: ParetoNBD, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """Per-customer log-likelihood."""
    # Extreme trial parameters can make hyp2f1 overflow to nan, or underflow s or alpha to 0 (log 0 =
    # -inf): the optimiser treats either as a wall, so neither is worth a warning in the service log.
    with np.errstate(invalid="ignore", divide="ignore"):
        alive, died = _log_terms(p, x, t_x, T)
        head = gammaln(p.r + x) - gammaln(p.r) + p.r * np.log(p.alpha) + p.s * np.log(p.beta)
        return head + np.logaddexp(alive, died)  # type: ignore[no-any-return]


def p_alive(p: ParetoNBD, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """P(still alive at T | x, t_x, T)."""
    alive, died = _log_terms(p, x, t_x, T)
    return 1.0 / (1.0 + np.exp(np.clip(died - alive, -700, 700)))


def expected_purchases(p: ParetoNBD, t: float, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """E[purchases in (T, T + t] | x, t_x, T]."""
    ratio = np.log((p.beta + T) / (p.beta + T + t))
    s1 = p.s - 1.0
    # (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1), with its limit -log(ratio) at s = 1.
    growth = -np.expm1(s1 * ratio) / s1 if abs(s1) > 1e-9 else -ratio
    return (p.r + x) * (p.beta + T) / (p.alpha + T) * growth * p_alive(p, x, t_x, T)


# Above this many distinct customers the optimiser first runs on a subsample: each likelihood
# evaluation costs ~1 microsecond per customer in hyp2f1, and the full data then only polishes.
SUBSAMPLE = 15_000
# Shape parameters above this mean "no heterogeneity" (the rate is the same for everyone): the
# likelihood is flat along that ridge, and hyp2f1 gets very slow out there. Capping costs no fit.
MAX_SHAPE = 25.0
# Upper bound of the mean rates r/alpha and s/beta (per time unit) the optimiser may try.
MAX_MEAN_RATE = 1e9


def _compress(x: Floats, t_x: Floats, T: Floats, weights: Floats) -> tuple[Floats, Floats, Floats, Floats]:
    """Identical (x, t_x, T) rows once, with their summed weights."""
    rows, inverse = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=weights).astype(np.float64)
    return rows[:, 0], rows[:, 1], rows[:, 2], counts


def fit(
    x: Floats, t_x: Floats, T: Floats, weights: Floats | None = None, *, start: ParetoNBD | None = None
) -> tuple[ParetoNBD, FitResult]:
    """Maximum-likelihood parameters; `start` (e.g. the previous fit) speeds up a refit."""
    raw = (x, t_x, T, np.ones_like(x) if weights is None else weights)
    x, t_x, T, w = _compress(*raw)
    # Start where the rates are of the order of the data: one purchase per mean observed time.
    scale = float(np.average(T, weights=w)) or 1.0
    guess = np.array([1.0, scale, 1.0, scale]) if start is None else np.array(list(start.as_dict().values()))

    # Optimise over (r, r/alpha, s, s/beta): shape and mean rate are nearly independent, while
    # (s, beta) lie on a long flat ridge that costs L-BFGS hundreds of evaluations.
    def model_of(q: Floats) -> ParetoNBD:
        return ParetoNBD(q[0], q[0] / q[1], q[2], q[2] / q[3])

    def total_on(xs: Floats, txs: Floats, Ts: Floats, ws: Floats) -> Callable[[Floats], float]:
        return lambda q: float(np.dot(ws, log_likelihood(model_of(q), xs, txs, Ts)))

    q0 = np.array([guess[0], guess[0] / guess[1], guess[2], guess[2] / guess[3]])
    evaluations = 0
    upper = np.array([MAX_SHAPE, MAX_MEAN_RATE, MAX_SHAPE, MAX_MEAN_RATE])
    if x.size > SUBSAMPLE and start is None:
        # A uniform sample of customers (not of distinct rows: that would over-weight rare ones);
        # a fixed seed keeps refits over the same data reproducible.
        pick = np.random.default_rng(0).choice(raw[0].size, SUBSAMPLE, replace=False)
        sample = _compress(*(column[pick] for column in raw))
        rough = maximise(total_on(*sample), q0, tolerance=1e-8, upper=upper)
        q0, evaluations = np.array(rough.params), rough.evaluations
    result = maximise(total_on(x, t_x, T, w), q0, upper=upper, tolerance=1e-9)
    fitted = model_of(np.array(result.params))
    result = replace(result, params=tuple(fitted.as_dict().values()))
    return fitted, replace(result, evaluations=result.evaluations + evaluations)
