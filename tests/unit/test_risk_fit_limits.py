"""A fit knows its limits: minimum data, degenerate optima, priors standing in, tiers that never degenerate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from winback_risk.domain.model import limits, pareto_nbd
from winback_risk.domain.model.fitting import FitResult
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.limits import PRIOR_PURCHASES, FitRules
from winback_risk.domain.model.pareto_nbd import ParetoNBD
from winback_risk.domain.model.population import PopulationModel, Summaries, cycle_scores, fit_population, value_tier
from winback_risk.entrypoints.http import model_view
from winback_risk.service_layer.model_service import ModelHolder, Refitter, same_outcome
from winback_shared.clock import FixedClock

NOW = datetime(2024, 6, 1, tzinfo=UTC)
CONVERGED = FitResult(params=(), log_likelihood=-100.0, iterations=10, evaluations=50, converged=True)


def fit(s: Summaries) -> PopulationModel:
    return fit_population(s, fitted_at=NOW, tier_quantiles=(0.8, 0.5))


def regular_buyers(n: int, *, every: float, orders: int, silent: float = 0.0, value: float = 40.0) -> Summaries:
    """n customers who bought `orders` times every `every` days, the last `silent` days ago."""
    x = np.full(n, orders - 1.0)
    t_x = x * every
    return Summaries(x, t_x, t_x + silent + np.arange(n) % 5, np.full(n, value))


def joined(*parts: Summaries) -> Summaries:
    return Summaries(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "t_x", "T", "mean_value")))


def test_eight_customers_are_served_the_documented_prior_with_sane_tiers() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 8).astype(float)
    t_x = x * 20.0
    s = Summaries(x, t_x, t_x + rng.uniform(5, 300, 8), rng.uniform(10, 200, 8))
    model = fit(s)
    assert (model.basis, model.reason) == ("prior", limits.TOO_FEW_CUSTOMERS)
    assert model.reason_detail == "8 customers with orders; a fit needs 30"
    assert model.purchases == PRIOR_PURCHASES and model.customers_used == 8
    # Spend: the CDNOW shapes, scaled to this base's mean value per occasion.
    assert model.spend is not None and (model.spend.p, model.spend.q) == limits.PRIOR_SPEND_SHAPES
    assert model.spend.population_mean == pytest.approx(float(np.mean(s.mean_value)))
    # Cut-offs are money, never 1e-21: A needs at least one typical order in the next 12 months.
    a, b = model.tier_cutoffs
    assert a >= float(np.median(s.mean_value)) and b >= 0.25 * float(np.median(s.mean_value)) and a >= b
    assert model.log_likelihood is not None and np.isfinite(model.log_likelihood)
    # GET /v1/model says what is served and why, and a reload from storage keeps it.
    view = model_view(model)
    assert (view["basis"], view["reason"]) == ("prior", "too_few_customers")
    assert view["reason_detail"] == "8 customers with orders; a fit needs 30"
    stored = PopulationModel.from_parameters(
        model.parameters(), fitted_at=NOW, statistics={**model.statistics, **model.outcome()}
    )
    assert (stored.basis, stored.reason, stored.reason_detail) == (model.basis, model.reason, model.reason_detail)


def test_a_base_without_drop_outs_gets_the_prior_and_a_silent_monthly_buyer_is_not_alive() -> None:
    # 60 monthly buyers who all bought within their rhythm, and one monthly buyer of two years
    # who has been silent for five intervals (issue 13, finding 3).
    base = regular_buyers(60, every=30.0, orders=20, silent=10.0)
    silent = regular_buyers(1, every=30.0, orders=24, silent=150.0)
    s = joined(base, silent)
    assert limits.apparent_dropouts(s.x, s.t_x, s.T, 3.0) == 1
    model = fit(s)
    assert (model.basis, model.reason) == ("prior", limits.NO_DROPOUTS_OBSERVED)
    assert model.purchases == PRIOR_PURCHASES
    alive = cycle_scores(model, s, 90.0).p_alive
    # Silent five intervals: more probably gone than not (was 1.00 from the unguarded fit).
    assert alive[-1] < 0.4
    assert alive[:60].min() > 0.9  # on rhythm: alive


def test_the_same_base_fitted_without_rules_would_say_nobody_leaves() -> None:
    """Why the rule exists: the unguarded optimum on such a base is degenerate, and caught as such."""
    s = joined(
        regular_buyers(60, every=30.0, orders=20, silent=10.0), regular_buyers(1, every=30.0, orders=24, silent=150.0)
    )
    raw, result = pareto_nbd.fit(s.x, s.t_x, s.T)
    assert limits.degenerate_purchases(raw, result) is not None
    unguarded = fit_population(s, fitted_at=NOW, tier_quantiles=(0.8, 0.5), rules=FitRules(min_dropouts=0))
    assert unguarded.basis == "prior" and unguarded.reason in {limits.ON_BOUNDARY, limits.DEGENERATE}


def test_a_base_of_one_time_buyers_gets_the_prior() -> None:
    s = Summaries(np.zeros(200), np.zeros(200), np.linspace(1, 400, 200), np.full(200, 30.0))
    model = fit(s)
    assert (model.basis, model.reason) == ("prior", limits.TOO_FEW_REPEAT_CUSTOMERS)
    assert model.reason_detail == "0 customers bought more than once; a fit needs 10"
    # Pareto/NBD, unlike BG/NBD, lets one-time buyers fade: the longer ago, the less alive.
    alive = cycle_scores(model, s, 90.0).p_alive
    assert alive[0] > alive[-1] and alive[-1] < 0.5
    tiers = {value_tier(float(v), model.tier_cutoffs) for v in cycle_scores(model, s, 365.0).clv_12m}
    assert "C" in tiers and len(tiers) >= 2


def test_an_empty_base_is_the_prior_without_spend() -> None:
    empty = np.zeros(0)
    model = fit(Summaries(empty, empty, empty, empty))
    assert (model.basis, model.reason, model.spend, model.log_likelihood) == (
        "prior", limits.TOO_FEW_CUSTOMERS, None, None,
    )  # fmt: skip
    assert model.tier_cutoffs == ()  # nobody to rank: tiers stay null


def simulated(truth: ParetoNBD, n: int, seed: int = 3) -> Summaries:
    """Customers drawn from a Pareto/NBD: Poisson purchases until an exponential lifetime ends."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(truth.r, 1.0 / truth.alpha, n)
    lifetime = rng.exponential(1.0 / rng.gamma(truth.s, 1.0 / truth.beta, n))
    T = rng.uniform(100, 700, n).round()
    active = np.minimum(lifetime, T)
    x = rng.poisson(rate * active).astype(float)
    # Given x purchases in (0, active], they fall uniformly; the last is the max of x uniforms.
    t_x = np.where(x > 0, active * rng.uniform(size=n) ** (1.0 / np.maximum(x, 1.0)), 0.0)
    return Summaries(x, t_x, T, rng.gamma(3, 20, n))


def test_a_real_base_is_fitted_and_recovers_the_truth() -> None:
    truth = ParetoNBD(0.6, 80.0, 0.5, 60.0)
    model = fit(simulated(truth, 2_000))
    assert (model.basis, model.reason, model.reason_detail) == ("fitted", None, None)
    p = model.purchases
    assert p.r / p.alpha == pytest.approx(truth.r / truth.alpha, rel=0.25)
    assert p.s / p.beta == pytest.approx(truth.s / truth.beta, rel=0.5)
    assert model.statistics["purchases_basis"] == "fitted" and model.statistics["spend_basis"] == "fitted"


@pytest.mark.parametrize(
    ("params", "converged", "code"),
    [
        (ParetoNBD(0.5, 70.0, 0.6, 80.0), False, limits.OPTIMISER_FAILED),
        (ParetoNBD(0.5, 1e-10, 0.6, 80.0), True, limits.ON_BOUNDARY),  # purchase rate at its bound
        (ParetoNBD(25.0, 3e5, 0.6, 80.0), True, limits.DEGENERATE),  # one purchase in 33 years
        (ParetoNBD(0.5, 70.0, 0.6, 2e12), True, limits.DEGENERATE),  # drop-out rate ~0: nobody leaves
        (ParetoNBD(0.5, 1e-3, 0.6, 80.0), True, limits.DEGENERATE),  # 500 purchases a day
        (ParetoNBD(0.5, float("nan"), 0.6, 80.0), True, limits.DEGENERATE),
    ],
)
def test_degenerate_purchase_optima_are_named(params: ParetoNBD, converged: bool, code: str) -> None:
    result = FitResult(params=(), log_likelihood=-100.0, iterations=10, evaluations=50, converged=converged)
    reason = limits.degenerate_purchases(params, result)
    assert reason is not None and reason.code == code


def test_published_values_are_not_degenerate() -> None:
    assert limits.degenerate_purchases(PRIOR_PURCHASES, CONVERGED) is None
    assert limits.degenerate_spend(GammaGamma(6.25, 3.74, 15.44), CONVERGED, np.array([10.0, 90.0])) is None


@pytest.mark.parametrize(
    ("spend", "code"),
    [
        (GammaGamma(2e12, 3.7, 15.0), limits.ON_BOUNDARY),
        (GammaGamma(6.0, 0.8, 15.0), limits.DEGENERATE),  # no finite mean value per order
        (GammaGamma(6.0, 3.0, 1_000.0), limits.DEGENERATE),  # mean 3,000 for customers spending 10-90
    ],
)
def test_degenerate_spend_optima_are_named(spend: GammaGamma, code: str) -> None:
    reason = limits.degenerate_spend(spend, CONVERGED, np.array([10.0, 90.0]))
    assert reason is not None and reason.code == code


def test_tier_cutoffs_are_floored_and_ordered() -> None:
    clv = np.full(100, 1e-21)
    a, b = limits.tier_cutoffs(clv, (0.8, 0.5), limits.tier_floors(np.full(100, 50.0)))
    assert (a, b) == (50.0, 12.5)
    spread = np.linspace(0, 1000, 101)
    assert limits.tier_cutoffs(spread, (0.8, 0.5), (50.0, 12.5)) == (800.0, 500.0)


async def noop() -> None:
    return None


def test_a_prior_for_lack_of_data_is_retried_every_poll_and_stored_only_when_it_changed() -> None:
    clock = FixedClock(NOW)
    holder = ModelHolder()
    refitter = Refitter(fit=noop, clock=clock, holder=holder, interval_s=86_400, poll_s=60)
    few = fit(regular_buyers(8, every=30.0, orders=3, silent=200.0))
    holder.current = few
    assert refitter.due(NOW)  # more customers may have arrived since
    assert same_outcome(fit(regular_buyers(8, every=30.0, orders=3, silent=200.0)), few)
    assert not same_outcome(fit(regular_buyers(9, every=30.0, orders=3, silent=200.0)), few)
    fitted = fit(simulated(ParetoNBD(0.6, 80.0, 0.5, 60.0), 500))
    assert fitted.is_fit
    holder.current = fitted
    assert not refitter.due(NOW) and refitter.due(NOW + timedelta(days=1))
    assert not same_outcome(fitted, fitted)  # a fit is always stored
