"""The population model the service serves: Pareto/NBD for purchases, Gamma-Gamma for value.

Time unit: days. A purchase occasion is a calendar day (UTC) with at least one order, so
same-day orders count once. x = occasions - 1 (repeat occasions), t_x = days from the first to
the last occasion, T = days from the first occasion to as_of.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from winback_risk.domain.model import gamma_gamma, limits, pareto_nbd
from winback_risk.domain.model.fitting import FitFailed, FitResult, Floats
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.limits import PRIOR_PURCHASES, FitRules, Reason
from winback_risk.domain.model.pareto_nbd import ParetoNBD

CLV_DAYS = 365.0
FITTED, PRIOR_BASIS = "fitted", "prior"


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
    # The decision value (what a tier ranks) at the value-tier quantiles over the whole base at fit
    # time, highest first (A above the first, B above the second).
    tier_cutoffs: tuple[float, ...] = ()
    # The base's typical interval between purchases (days; the median of repeat buyers' mean
    # intervals at fit time): the reference for customers without a rhythm of their own.
    typical_interval_days: float | None = None
    customers_used: int = 0
    log_likelihood: float | None = None
    fitted_at: datetime | None = None
    statistics: dict[str, Any] = field(default_factory=dict)
    # "fitted": the parameters are this base's maximum-likelihood fit; "prior": the documented
    # priors stand in (limits.py), `reason` and `reason_detail` say why.
    basis: str = PRIOR_BASIS
    reason: str | None = limits.NOT_FITTED_YET
    reason_detail: str | None = "no fit yet: the CDNOW estimates in days"

    @property
    def name(self) -> str:
        return pareto_nbd.NAME + ("+gamma_gamma" if self.spend is not None else "")

    def parameters(self) -> dict[str, Any]:
        return {
            "purchases": self.purchases.as_dict(),
            "spend": self.spend.as_dict() if self.spend is not None else None,
            "tier_cutoffs": list(self.tier_cutoffs),
            "typical_interval_days": self.typical_interval_days,
            "time_unit": "day",
        }

    @property
    def is_fit(self) -> bool:
        return self.basis == FITTED

    def outcome(self) -> dict[str, Any]:
        """What is stored with the fit's statistics so a reload knows its basis."""
        return {"basis": self.basis, "reason": self.reason, "reason_detail": self.reason_detail}

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any], **stats: Any) -> PopulationModel:
        spend = parameters.get("spend")
        statistics = stats.get("statistics") or {}
        # Fits stored before the basis was recorded were served as fits.
        basis = statistics.get("basis", FITTED if stats.get("fitted_at") else PRIOR_BASIS)
        return cls(
            purchases=ParetoNBD(**parameters["purchases"]),
            spend=GammaGamma(**spend) if spend else None,
            tier_cutoffs=tuple(parameters.get("tier_cutoffs", ())),
            # Models stored before it was kept have none: no fallback until the next fit.
            typical_interval_days=parameters.get("typical_interval_days"),
            basis=basis,
            reason=statistics.get("reason"),
            reason_detail=statistics.get("reason_detail"),
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
    rules: FitRules | None = None,
    data_as_of: datetime | None = None,
    decision_values: Callable[[PopulationModel], Floats] | None = None,
) -> PopulationModel:
    """Fit both models over all customers, or stand the priors in where the data or the optimum fails.

    Never raises for lack of data: below the minimum-data rules, or on a degenerate optimum,
    the documented priors are the model (`basis` "prior" with the reason). Value-tier cut-offs
    are quantiles of `decision_values(model in use)` over the whole base (what each customer's
    tier ranks; the service and the backtest pass the assessment's, `scoring.decision_values`),
    floored (limits.tier_floors). Without it, of the customers' 12-month values, as the
    assessment would rank a base known only by its orders and still buying.
    """
    rules = rules or FitRules()
    start = previous.purchases if previous is not None and previous.is_fit else None
    purchases, fit, purchase_reason = _purchases(s, rules, start)
    spend, spend_ll, spend_reason = _spend(s, rules)
    reason = purchase_reason
    if reason is None and spend_reason is not None:
        reason = Reason(spend_reason.code, "spend model: " + spend_reason.detail)
    typical = limits.typical_interval(s.x, s.t_x, rules.min_repeat_customers)
    draft = PopulationModel(purchases=purchases, spend=spend, typical_interval_days=typical)
    ranking_started = time.perf_counter()
    if decision_values is not None:
        ranked = decision_values(draft)
    else:
        ranked = cycle_scores(draft, s, CLV_DAYS).clv_12m if s.size else np.zeros(0)
    # Nobody to rank yet: no tiers (value_tier stays null) rather than cut-offs made of nothing.
    cutoffs = limits.tier_cutoffs(ranked, tier_quantiles, limits.tier_floors(s.mean_value)) if ranked.size else ()
    ranking_seconds = round(time.perf_counter() - ranking_started, 3)
    log_likelihood: float | None = None
    if fit is not None and purchase_reason is None:
        log_likelihood = fit.log_likelihood
    elif s.size:
        # The prior's log-likelihood on this data, so a later fit can be compared with it.
        log_likelihood = float(np.sum(pareto_nbd.log_likelihood(purchases, s.x, s.t_x, s.T)))
    return PopulationModel(
        purchases=purchases,
        spend=spend,
        tier_cutoffs=cutoffs,
        typical_interval_days=typical,
        customers_used=s.size,
        log_likelihood=log_likelihood,
        fitted_at=fitted_at,
        basis=FITTED if reason is None else PRIOR_BASIS,
        reason=None if reason is None else reason.code,
        reason_detail=None if reason is None else reason.detail,
        statistics={
            "purchases_basis": FITTED if purchase_reason is None else PRIOR_BASIS,
            "spend_basis": None if spend is None else (PRIOR_BASIS if spend_reason else FITTED),
            "converged": fit.converged if fit is not None else None,
            "iterations": fit.iterations if fit is not None else 0,
            "evaluations": fit.evaluations if fit is not None else 0,
            "spend_log_likelihood": spend_ll,
            "repeat_customers": int(np.count_nonzero(s.x > 0)),
            "customers_ranked": int(ranked.size),
            "tier_ranking_seconds": ranking_seconds,
            "apparent_dropouts": limits.apparent_dropouts(s.x, s.t_x, s.T, rules.dropout_silence_ratio),
            "mean_repeat_occasions": float(np.mean(s.x)) if s.size else 0.0,
            "data_as_of": (data_as_of or fitted_at).isoformat(),
            "fit_seconds": None,
        },
    )


def _purchases(
    s: Summaries, rules: FitRules, start: ParetoNBD | None
) -> tuple[ParetoNBD, FitResult | None, Reason | None]:
    """The fitted Pareto/NBD, or the prior with the reason; the optimiser's result when it ran."""
    shortfall = limits.data_shortfall(s.x, s.t_x, s.T, rules)
    if shortfall is not None:
        return PRIOR_PURCHASES, None, shortfall
    try:
        fitted, fit = pareto_nbd.fit(s.x, s.t_x, s.T, start=start)
    except (ValueError, FitFailed) as exc:
        return PRIOR_PURCHASES, None, Reason(limits.OPTIMISER_FAILED, str(exc))
    reason = limits.degenerate_purchases(fitted, fit)
    return (PRIOR_PURCHASES, fit, reason) if reason is not None else (fitted, fit, None)


def _spend(s: Summaries, rules: FitRules) -> tuple[GammaGamma | None, float | None, Reason | None]:
    """The fitted Gamma-Gamma, or the rescaled prior with the reason; None without value information."""
    occasions = s.x + 1.0
    informative = int(np.count_nonzero((s.x > 0) & (s.mean_value > 0)))
    if not np.any(s.mean_value > 0):
        return None, None, None  # no amounts at all: each customer's own mean (zero) is all there is
    if informative < rules.min_repeat_customers:
        detail = f"{informative} repeat buyers with a value; a fit needs {rules.min_repeat_customers}"
        return limits.prior_spend(s.mean_value), None, Reason(limits.TOO_FEW_REPEAT_CUSTOMERS, detail)
    try:
        # Gamma-Gamma uses all occasions' mean value; customers without value information carry none.
        spend, fit = gamma_gamma.fit(occasions, s.mean_value)
    except (ValueError, FitFailed) as exc:
        return limits.prior_spend(s.mean_value), None, Reason(limits.OPTIMISER_FAILED, str(exc))
    reason = limits.degenerate_spend(spend, fit, s.mean_value)
    if reason is not None:
        return limits.prior_spend(s.mean_value), fit.log_likelihood, reason
    return spend, fit.log_likelihood, None
