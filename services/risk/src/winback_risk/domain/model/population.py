"""The population model the service serves: Pareto/NBD for purchases, Gamma-Gamma for value.

Time unit: days. A purchase occasion is a calendar day (UTC) with at least one order, so
same-day orders count once. x = occasions - 1 (repeat occasions), t_x = days from the first to
the last occasion, T = days from the first occasion to as_of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from winback_risk.domain.model import gamma_gamma, pareto_nbd
from winback_risk.domain.model.fitting import FitFailed, Floats
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.pareto_nbd import ParetoNBD

CLV_DAYS = 365.0
# Before the first fit: the CDNOW estimates (Fader, Hardie & Lee 2005) converted from weeks to
# days, and a flat spend prior. Replaced by the first fit over the service's own customers.
PRIOR_PURCHASES = ParetoNBD(r=0.553, alpha=10.578 * 7, s=0.606, beta=11.669 * 7)


@dataclass(frozen=True, slots=True)
class Summaries:
    """Per-customer purchase summaries as parallel arrays (days; value per occasion)."""

    x: Floats
    t_x: Floats
    T: Floats
    mean_value: Floats

    @property
    def size(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True, slots=True)
class PopulationModel:
    purchases: ParetoNBD
    spend: GammaGamma | None
    # predicted_clv_12m at the value-tier quantiles, highest first (A above the first, B above the second).
    tier_cutoffs: tuple[float, ...] = ()
    customers_used: int = 0
    log_likelihood: float | None = None
    fitted_at: datetime | None = None
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return pareto_nbd.NAME + ("+gamma_gamma" if self.spend is not None else "")

    def parameters(self) -> dict[str, Any]:
        return {
            "purchases": self.purchases.as_dict(),
            "spend": self.spend.as_dict() if self.spend is not None else None,
            "tier_cutoffs": list(self.tier_cutoffs),
            "time_unit": "day",
        }

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any], **stats: Any) -> PopulationModel:
        spend = parameters.get("spend")
        return cls(
            purchases=ParetoNBD(**parameters["purchases"]),
            spend=GammaGamma(**spend) if spend else None,
            tier_cutoffs=tuple(parameters.get("tier_cutoffs", ())),
            **stats,
        )


PRIOR = PopulationModel(purchases=PRIOR_PURCHASES, spend=None)


@dataclass(frozen=True, slots=True)
class CycleScores:
    p_alive: Floats
    expected_orders: Floats
    value_per_order: Floats
    clv_12m: Floats


def cycle_scores(model: PopulationModel, s: Summaries, horizon_days: float) -> CycleScores:
    """P(alive), expected orders in the horizon, value per order and 12-month CLV, vectorised."""
    m = model.purchases
    alive = pareto_nbd.p_alive(m, s.x, s.t_x, s.T)
    expected = pareto_nbd.expected_purchases(m, horizon_days, s.x, s.t_x, s.T)
    year = expected if horizon_days == CLV_DAYS else pareto_nbd.expected_purchases(m, CLV_DAYS, s.x, s.t_x, s.T)
    occasions = s.x + 1.0
    if model.spend is not None:
        value = gamma_gamma.expected_value(model.spend, occasions, s.mean_value)
    else:
        # No spend model yet: the customer's own mean is the best guess available.
        value = s.mean_value.copy()
    return CycleScores(alive, expected, value, year * value)


def value_tier(clv: float, cutoffs: tuple[float, ...]) -> str | None:
    """A above the first cutoff, B above the second, C below; None before any fit."""
    if len(cutoffs) < 2:
        return None
    if clv >= cutoffs[0]:
        return "A"
    return "B" if clv >= cutoffs[1] else "C"


def fit_population(
    s: Summaries,
    *,
    fitted_at: datetime,
    tier_quantiles: tuple[float, float],
    previous: PopulationModel | None = None,
    elapsed: Any = None,
) -> PopulationModel:
    """Fit both models over all customers and derive the value-tier cutoffs from the fitted CLVs."""
    if s.size < 3:
        raise FitFailed(f"{s.size} customers with orders are too few to fit a population model")
    start = previous.purchases if previous is not None and previous.fitted_at is not None else None
    purchases, fit = pareto_nbd.fit(s.x, s.t_x, s.T, start=start)
    spend: GammaGamma | None = None
    spend_ll: float | None = None
    try:
        # Gamma-Gamma uses all occasions' mean value; customers without value information carry none.
        spend, spend_fit = gamma_gamma.fit(s.x + 1.0, s.mean_value)
        spend_ll = spend_fit.log_likelihood
    except (ValueError, FitFailed):
        spend = None
    draft = PopulationModel(purchases=purchases, spend=spend)
    clv = cycle_scores(draft, s, CLV_DAYS).clv_12m
    cutoffs = tuple(float(np.quantile(clv, q)) for q in tier_quantiles)
    return PopulationModel(
        purchases=purchases,
        spend=spend,
        tier_cutoffs=cutoffs,
        customers_used=s.size,
        log_likelihood=fit.log_likelihood,
        fitted_at=fitted_at,
        statistics={
            "converged": fit.converged,
            "iterations": fit.iterations,
            "evaluations": fit.evaluations,
            "spend_log_likelihood": spend_ll,
            "repeat_customers": int(np.count_nonzero(s.x > 0)),
            "mean_repeat_occasions": float(np.mean(s.x)),
            "fit_seconds": elapsed,
        },
    )
