"""When a fit is a model: minimum data, degenerate optima, and the documented priors standing in.

A maximum-likelihood fit on a handful of customers, or on a base where nobody has left yet,
"succeeds" with values such as alpha 3e5 or a drop-out rate of zero: the likelihood is flat or
keeps rising towards a boundary. Those values would say that nobody ever drops out (p_alive 1
for a customer silent for months), so the service then serves published priors instead and
says why (README "Model").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winback_risk.domain.model.fitting import FitResult, Floats
from winback_risk.domain.model.gamma_gamma import CDNOW_SPEND_SHAPES, GammaGamma
from winback_risk.domain.model.pareto_nbd import MAX_MEAN_RATE, ParetoNBD

# Pareto/NBD on the CDNOW 1/10 sample (Fader, Hardie & Lee 2005), weeks converted to days:
# the rates scale with the time unit (alpha, beta x 7), the shapes do not.
PRIOR_PURCHASES = ParetoNBD(r=0.553, alpha=10.578 * 7, s=0.606, beta=11.669 * 7)
# Gamma-Gamma shapes on the same data (p=6.25, q=3.74, gamma=15.44 USD). The scale is money, so
# gamma is rescaled to make the prior's population mean the base's own mean value per occasion.
PRIOR_SPEND_SHAPES = CDNOW_SPEND_SHAPES

# Data reasons: more data may lift them, so a refit is worth trying again soon.
TOO_FEW_CUSTOMERS = "too_few_customers"
TOO_FEW_REPEAT_CUSTOMERS = "too_few_repeat_customers"
NO_DROPOUTS_OBSERVED = "no_dropouts_observed"
DATA_REASONS = frozenset({TOO_FEW_CUSTOMERS, TOO_FEW_REPEAT_CUSTOMERS, NO_DROPOUTS_OBSERVED})
# Fit reasons: the optimiser ran but its optimum is not a model.
OPTIMISER_FAILED = "optimiser_failed"
ON_BOUNDARY = "parameters_on_boundary"
DEGENERATE = "degenerate_parameters"
NOT_FITTED_YET = "not_fitted_yet"

# A mean drop-out rate below one per century means "nobody ever leaves", whatever the data said.
MIN_DROPOUT_RATE_PER_DAY = 1.0 / 36_500.0
# Mean purchase rates outside (one per ten years, ten per day) describe no customer base.
PURCHASE_RATE_RANGE_PER_DAY = (1.0 / 3_650.0, 10.0)
# A Gamma-Gamma p beyond this says a customer's orders are all worth the same (p 2e12 was seen).
MAX_SPEND_SHAPE = 10_000.0
# Tier floors, in units of the base's median value per occasion (see `tier_floors`).
TIER_FLOOR_ORDERS = (1.0, 0.25)
MIN_TIER_FLOOR = 0.01


@dataclass(frozen=True, slots=True)
class FitRules:
    """Minimum data for a fit of the population model (settings `WINBACK_MODEL_MIN_*`)."""

    min_customers: int = 30
    min_repeat_customers: int = 10
    min_dropouts: int = 3
    # A repeat buyer silent for at least this many of their own mean intervals has apparently left.
    dropout_silence_ratio: float = 3.0


@dataclass(frozen=True, slots=True)
class Reason:
    """Why the prior stands in: a stable code and a sentence with the numbers."""

    code: str
    detail: str


def apparent_dropouts(x: Floats, t_x: Floats, T: Floats, silence_ratio: float) -> int:
    """Repeat buyers silent for at least `silence_ratio` times their own mean interval."""
    repeat = (x > 0) & (t_x > 0)
    interval = np.where(repeat, t_x / np.maximum(x, 1.0), np.inf)
    return int(np.count_nonzero(repeat & (T - t_x >= silence_ratio * interval)))


def data_shortfall(x: Floats, t_x: Floats, T: Floats, rules: FitRules) -> Reason | None:
    """The first minimum-data rule the customers fail, or None when they may be fitted."""
    customers = int(x.size)
    if customers < rules.min_customers:
        return Reason(TOO_FEW_CUSTOMERS, f"{customers} customers with orders; a fit needs {rules.min_customers}")
    repeat = int(np.count_nonzero(x > 0))
    if repeat < rules.min_repeat_customers:
        return Reason(
            TOO_FEW_REPEAT_CUSTOMERS,
            f"{repeat} customers bought more than once; a fit needs {rules.min_repeat_customers}",
        )
    dropouts = apparent_dropouts(x, t_x, T, rules.dropout_silence_ratio)
    if dropouts < rules.min_dropouts:
        return Reason(
            NO_DROPOUTS_OBSERVED,
            f"{dropouts} repeat buyers silent for {rules.dropout_silence_ratio:g}x their own interval; "
            f"a fit needs {rules.min_dropouts} to estimate how customers leave",
        )
    return None


def degenerate_purchases(p: ParetoNBD, fit: FitResult) -> Reason | None:
    """Why a Pareto/NBD optimum is not a model (boundary, nobody leaves, absurd rates), or None."""
    values = np.array([p.r, p.alpha, p.s, p.beta, fit.log_likelihood])
    if not np.all(np.isfinite(values)) or min(p.r, p.alpha, p.s, p.beta) <= 0:
        return Reason(DEGENERATE, f"non-finite or non-positive parameters {p.as_dict()}")
    if not fit.converged:
        return Reason(OPTIMISER_FAILED, f"the optimiser did not converge after {fit.evaluations} evaluations")
    # A shape at its cap is the limit "no heterogeneity" (everyone the same rate), a model in its
    # own right; a mean rate at its bound is not: the optimum lies at zero or infinity.
    if max(p.r / p.alpha, p.s / p.beta) >= MAX_MEAN_RATE * 0.99:
        return Reason(ON_BOUNDARY, f"a mean rate reached its bound {MAX_MEAN_RATE:g}/day: {p.as_dict()}")
    dropout_rate = p.s / p.beta
    if dropout_rate < MIN_DROPOUT_RATE_PER_DAY:
        return Reason(
            DEGENERATE, f"mean drop-out rate {dropout_rate:.3g}/day: the fit says nobody ever leaves (s={p.s:.4g}, "
            f"beta={p.beta:.4g})",
        )  # fmt: skip
    purchase_rate = p.r / p.alpha
    low, high = PURCHASE_RATE_RANGE_PER_DAY
    if not low <= purchase_rate <= high:
        return Reason(DEGENERATE, f"mean purchase rate {purchase_rate:.3g}/day (r={p.r:.4g}, alpha={p.alpha:.4g})")
    return None


def degenerate_spend(g: GammaGamma, fit: FitResult, mean_value: Floats) -> Reason | None:
    """Why a Gamma-Gamma optimum is not a spend model, or None.

    A large q is the limit "customers do not differ in their average spend", a model in its own
    right; a huge p says each customer's orders are all worth exactly the same (p 2e12 on 8
    customers), and a population mean outside the customers' own means is no fit of them.
    """
    values = np.array([g.p, g.q, g.gamma, fit.log_likelihood])
    if not np.all(np.isfinite(values)):
        return Reason(DEGENERATE, f"non-finite spend parameters {g.as_dict()}")
    if not fit.converged:
        return Reason(OPTIMISER_FAILED, "the spend optimiser did not converge")
    if g.p >= MAX_SPEND_SHAPE:
        return Reason(ON_BOUNDARY, f"spend p={g.p:.4g}: every order of a customer worth exactly the same")
    if g.q <= 1.0:
        return Reason(DEGENERATE, f"spend q={g.q:.4g} <= 1: the population has no finite mean value per order")
    positive = mean_value[mean_value > 0]
    if positive.size and not float(np.min(positive)) <= g.population_mean <= float(np.max(positive)):
        return Reason(DEGENERATE, f"spend population mean {g.population_mean:.4g} outside the customers' own means")
    return None


def prior_spend(mean_value: Floats) -> GammaGamma | None:
    """The CDNOW spend shapes, scaled to the base's mean value per occasion; None without any value."""
    positive = mean_value[mean_value > 0]
    if positive.size == 0:
        return None
    p, q = PRIOR_SPEND_SHAPES
    return GammaGamma(p=p, q=q, gamma=float(np.mean(positive)) * (q - 1.0) / p)


def typical_interval(x: Floats, t_x: Floats, min_repeat_customers: int) -> float | None:
    """The base's typical interval between purchases (days): the median of repeat buyers' mean intervals.

    None with fewer repeat buyers than a fit needs: a median of a handful is no "typical" rhythm.
    """
    repeat = (x > 0) & (t_x > 0)
    if int(np.count_nonzero(repeat)) < max(min_repeat_customers, 1):
        return None
    return round(float(np.median(t_x[repeat] / x[repeat])), 3)


def tier_floors(mean_value: Floats) -> tuple[float, float]:
    """Lowest predicted 12-month values for tiers A and B: one and a quarter typical order.

    A customer expected to bring less than one typical order in the next year is not a top
    customer, however few customers the base has; this keeps cut-offs from degenerating to
    ~0 (where every customer with any expectation would be A) when the model expects little.
    """
    positive = mean_value[mean_value > 0]
    typical = float(np.median(positive)) if positive.size else 0.0
    a, b = (max(typical * share, MIN_TIER_FLOOR) for share in TIER_FLOOR_ORDERS)
    return a, b


def tier_cutoffs(values: Floats, quantiles: tuple[float, float], floors: tuple[float, float]) -> tuple[float, float]:
    """Quantile cut-offs of the values tiers rank, never below the floors, A's never below B's."""
    finite = values[np.isfinite(values)]
    raw = [float(np.quantile(finite, q)) if finite.size else 0.0 for q in quantiles]
    b = max(raw[1], floors[1])
    return max(raw[0], floors[0], b), b
