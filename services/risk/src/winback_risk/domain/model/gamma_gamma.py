"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"): value per order.

Fitted on customers with repeat purchases only (x > 0): m_x is the mean value of their repeat
purchase occasions. Assumes spend is independent of purchase frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from winback_risk.domain.model.fitting import FitResult, Floats, maximise

# Fader, Hardie & Lee (2005) on CDNOW: p 6.25, q 3.74 (the same shapes limits.py's prior uses).
CDNOW_SPEND_SHAPES = (6.25, 3.74)


@dataclass(frozen=True, slots=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean(self) -> float:
        """E[value per order] of a customer we know nothing about (q > 1 for it to exist)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("nan")


def log_likelihood(g: GammaGamma, x: Floats, m_x: Floats) -> Floats:
    """Per-customer log-likelihood of the observed mean value m_x over x transactions."""
    px = g.p * x
    return (  # type: ignore[no-any-return]
        gammaln(px + g.q)
        - gammaln(px)
        - gammaln(g.q)
        + g.q * np.log(g.gamma)
        + (px - 1.0) * np.log(m_x)
        + px * np.log(x)
        - (px + g.q) * np.log(g.gamma + m_x * x)
    )


def expected_value(g: GammaGamma, x: Floats, m_x: Floats) -> Floats:
    """E[value per order | x, m_x]: shrinks the customer's own mean towards the population's."""
    x = np.asarray(x, dtype=float)
    m = np.where(x > 0, m_x, 0.0)
    return (g.p * (g.gamma + x * m)) / (g.p * x + g.q - 1.0)


def fit(x: Floats, m_x: Floats) -> tuple[GammaGamma, FitResult]:
    """Fit on the customers with x > 0 and m_x > 0 (the others carry no spend information)."""
    keep = (x > 0) & (m_x > 0)
    xs, ms = x[keep], m_x[keep]
    if xs.size < 3:
        raise ValueError("the Gamma-Gamma model needs at least three customers with repeat purchases")

    def total(params: Floats) -> float:
        # Trial points far out (a degenerate base) overflow to nan: the optimiser treats that as a wall.
        with np.errstate(invalid="ignore", over="ignore"):
            return float(np.sum(log_likelihood(GammaGamma(*params), xs, ms)))

    # Two starts, the better optimum kept: from (1, 2) alone the optimiser can stop at "customers do
    # not differ" (q ~ 4e5) on a base whose customers each spend the same every time, where the
    # likelihood rises towards large p instead; which one it found depended on the machine's
    # floating point. The second start is the CDNOW shapes at this base's mean (limits.prior_spend).
    mean = float(np.mean(ms))
    p0, q0 = CDNOW_SPEND_SHAPES
    starts = (np.array([1.0, 2.0, mean]), np.array([p0, q0, mean * (q0 - 1.0) / p0]))
    results = [maximise(total, start) for start in starts]
    finite = [r for r in results if np.isfinite(r.log_likelihood)] or results
    result = max(finite, key=lambda r: (r.converged, r.log_likelihood))
    return GammaGamma(*result.params), result
