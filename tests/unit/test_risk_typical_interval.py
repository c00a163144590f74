"""One-time buyers have no rhythm of their own: their silence is measured against the base's typical interval."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from winback_risk.domain.facts import Signal
from winback_risk.domain.model import limits
from winback_risk.domain.model.population import PRIOR, PopulationModel, Summaries, fit_population
from winback_risk.domain.scoring import Assessment, CustomerFacts, OrderSummary, RiskConfig, assess_customers
from winback_risk.entrypoints.http import model_view

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CONFIG = RiskConfig()
# The base buys about monthly (the median of its repeat buyers' mean intervals).
MODEL = replace(PRIOR, typical_interval_days=30.0, tier_cutoffs=(400.0, 150.0))


def orders(occasions: int, *, every_days: float = 30.0, silent_days: float, basket: str = "19.90") -> OrderSummary:
    last = NOW - timedelta(days=silent_days)
    first = last - timedelta(days=every_days * (occasions - 1))
    midnights = [t.replace(hour=0, minute=0, second=0, microsecond=0) for t in (first, last)]
    revenue = Decimal(basket) * occasions
    return OrderSummary(occasions, occasions, first, last, *midnights, revenue, revenue, False)


def assess(o: OrderSummary, model: PopulationModel = MODEL) -> Assessment:
    [a] = assess_customers([CustomerFacts("lea", "active", o)], model, NOW, 90, CONFIG)
    return a


def test_a_one_time_buyer_silent_for_fourteen_months_is_lapsed_against_the_base_interval() -> None:
    a = assess(orders(1, silent_days=14 * 30))
    assert (a.status, a.status_reasons) == ("lapsed", ("overdue_vs_typical_interval",))
    assert a.risk_score >= CONFIG.at_risk_score
    overdue = [d for d in a.drivers if d["factor"] == "overdue"]
    assert overdue and overdue[0]["contribution"] > 0
    assert overdue[0]["detail"] == "no rhythm of their own; against the base's typical interval: 14x 30 days"
    # Her own rhythm stays unknown: the buying cycle shows no interval and no ratio of her own.
    assert (a.cycle.mean_interval_days, a.cycle.overdue_ratio) == (None, None)
    # Lapsed: her tier ranks her value if won back.
    assert a.value.predicted_value_if_retained_12m is not None and a.value_tier == "C"


def test_a_recent_one_time_buyer_is_active_and_one_past_the_typical_interval_only_early_warned() -> None:
    recent = assess(orders(1, silent_days=20))
    assert recent.status == "active" and "overdue" not in [d["factor"] for d in recent.drivers]
    late = assess(orders(1, silent_days=45))  # 1.5 typical intervals: overdue, not yet lapsed
    assert late.status != "lapsed"
    assert [d["detail"] for d in late.drivers if d["factor"] == "overdue"] == [
        "no rhythm of their own; against the base's typical interval: 1.5x 30 days"
    ]


def test_customers_with_a_rhythm_are_measured_against_their_own_interval_only() -> None:
    # Twice a year, silent five months: 5x the base's month, but not overdue against their own half-year.
    a = assess(orders(4, every_days=180, silent_days=150))
    assert a.status == "active"
    assert "overdue" not in [d["factor"] for d in a.drivers]


def test_a_one_time_buyer_with_a_running_contract_is_not_measured_against_the_base() -> None:
    """The contract is the relationship's rhythm (a won-back subscriber who once bought an extra is not asleep)."""
    contract = Signal("lea", NOW - timedelta(days=40), "contract_started", "k2")
    [a] = assess_customers(
        [CustomerFacts("lea", "won_back", orders(1, silent_days=240), (contract,))], MODEL, NOW, 90, CONFIG
    )
    assert a.status != "lapsed" and "overdue" not in [d["factor"] for d in a.drivers]


def test_without_a_typical_interval_a_one_time_buyer_is_never_lapsed() -> None:
    """Before the first fit (or a base with too few repeat buyers) there is nothing to measure her against."""
    a = assess(orders(1, silent_days=14 * 30), PRIOR)
    assert a.status != "lapsed" and "overdue" not in [d["factor"] for d in a.drivers]


def test_the_typical_interval_is_the_median_of_repeat_buyers_mean_intervals_and_shown_with_the_model() -> None:
    x = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=float)
    interval = np.array([0, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], dtype=float)
    assert limits.typical_interval(x, x * interval, 10) == 55.0  # one-time buyers do not count
    assert limits.typical_interval(x, x * interval, 11) is None  # fewer repeat buyers than a fit needs
    s = Summaries(x, x * interval, x * interval + 5.0, np.full(12, 20.0))
    model = fit_population(s, fitted_at=NOW, tier_quantiles=(0.8, 0.5), rules=limits.FitRules(min_customers=5))
    assert model.typical_interval_days == 55.0
    view = model_view(model)
    assert view["parameters"]["typical_interval_days"] == 55.0
    stored = PopulationModel.from_parameters(model.parameters(), fitted_at=NOW, statistics=model.statistics)
    assert stored.typical_interval_days == 55.0
    # A model stored before the interval was kept has none.
    old = {k: v for k, v in model.parameters().items() if k != "typical_interval_days"}
    assert PopulationModel.from_parameters(old, fitted_at=NOW, statistics={}).typical_interval_days is None
