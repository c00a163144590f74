"""BG/NBD (Fader, Hardie & Lee 2005), kept for the reference comparison only.

Its P(alive) is 1 for every customer without repeat purchases, ranking the least engaged as
the most alive; the service serves Pareto/NBD's P(alive) instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, gammaln

from winback_risk.domain.model.fitting import FitResult, Floats, maximise

NAME = "bg_nbd"


@dataclass(frozen=True, slots=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float


def log_likelihood(p: BGNBD, x: Floats, t_x: Floats, T: Floats) -> Floats:
    """Per-customer log-likelihood (equation 6 of the paper, in log space)."""
    head = gammaln(p.r + x) - gammaln(p.r) + p.r * np.log(p.alpha)
    stay = betaln(p.a, p.b + x) - betaln(p.a, p.b) - (p.r + x) * np.log(p.alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        leave = betaln(p.a + 1.0, p.b + x - 1.0) - betaln(p.a, p.b) - (p.r + x) * np.log(p.alpha + t_x)
    leave = np.where(x > 0, leave, -np.inf)
    return head + np.logaddexp(stay, leave)  # type: ignore[no-any-return]


def fit(x: Floats, t_x: Floats, T: Floats) -> tuple[BGNBD, FitResult]:
    scale = float(np.mean(T)) or 1.0

    def total(params: Floats) -> float:
        return float(np.sum(log_likelihood(BGNBD(*params), x, t_x, T)))

    result = maximise(total, np.array([1.0, scale, 1.0, 1.0]))
    return BGNBD(*result.params), result
