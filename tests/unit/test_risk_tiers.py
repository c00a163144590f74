"""Value tiers rank the decision value against the whole base, with cut-offs made at fit time by the one assessment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from winback_risk.domain.facts import Signal
from winback_risk.domain.model.limits import FitRules
from winback_risk.domain.model.population import cycle_scores
from winback_risk.domain.scoring import CustomerFacts, OrderSummary, RiskConfig, assess_customers, decision_value
from winback_risk.service_layer.model_service import fit_at, summaries_at

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CONFIG = RiskConfig()
QUANTILES = (0.8, 0.5)


def buyer(occasions: int, every_days: int, silent_days: int, basket: float) -> OrderSummary:
    """`occasions` purchases of `basket` EUR `every_days` apart, the last `silent_days` before NOW (midnights)."""
    last = NOW - timedelta(days=silent_days)
    first = last - timedelta(days=every_days * (occasions - 1))
    revenue = Decimal(str(basket)) * occasions
    return OrderSummary(occasions, occasions, first, last, first, last, revenue, revenue, False)


def quiet_base(n: int = 60) -> list[OrderSummary]:
    """A base that has gone quiet: everyone bought monthly for a year and has been silent for a year or more."""
    return [buyer(12, 30, 365 + 5 * i, 20.0 + 3 * i) for i in range(n)]


def fit(orders: list[OrderSummary], customers: list[CustomerFacts] | None = None):  # type: ignore[no-untyped-def]
    return fit_at(
        orders, NOW, value_basis="revenue", quantiles=QUANTILES, rules=FitRules(), customers=customers, config=CONFIG
    )


def test_on_a_base_that_has_gone_quiet_the_top_fifth_is_a_and_the_next_three_tenths_b() -> None:
    orders = quiet_base()
    model = fit(orders)
    facts = [CustomerFacts(f"c{i}", "active", o) for i, o in enumerate(orders)]
    assessed = assess_customers(facts, model, NOW, 90, CONFIG)
    assert {a.status for a in assessed} <= {"lapsed", "churned"}
    # What the old cut-offs ranked: the post-churn expectations, near zero for everyone, so every
    # leaver's value if won back was above them (all A).
    expectations = cycle_scores(model, summaries_at(orders, NOW, "revenue"), 365.0).clv_12m
    assert model.tier_cutoffs[1] > float(np.max(expectations))
    tiers = [a.value_tier for a in sorted(assessed, key=lambda a: -(decision_value(a.status, a.value) or 0.0))]
    assert tiers == ["A"] * 12 + ["B"] * 18 + ["C"] * 30
    assert model.statistics["customers_ranked"] == 60


def test_cut_offs_rank_the_whole_base_including_contracts_and_the_base_status() -> None:
    """The fit assesses the base's facts, not only their orders: a contract's payments and a notice count."""
    orders = quiet_base()
    facts = [CustomerFacts(f"c{i}", "active", o) for i, o in enumerate(orders)]
    # Ten businesses without orders pay 500 EUR a month under running contracts: they are the top of
    # the base by their expected 12 months (6,000 EUR each), so they take ten of the twelve A places.
    started = NOW - timedelta(days=400)
    for i in range(10):
        contract = Signal(f"b{i}", started, "contract_started", "k1", amount=Decimal(500))
        facts.append(CustomerFacts(f"b{i}", "active", OrderSummary(), (contract,)))
    model = fit(orders, facts)
    assert model.statistics["customers_ranked"] == 70
    assessed = {a.customer_id: a for a in assess_customers(facts, model, NOW, 90, CONFIG)}
    assert [assessed[f"b{i}"].value_tier for i in range(10)] == ["A"] * 10
    tiers = [assessed[f"c{i}"].value_tier for i in range(60)]
    # Of 70 ranked: 14 A (ten businesses, the four largest buyers), 21 B, 35 C.
    assert (tiers.count("A"), tiers.count("B"), tiers.count("C")) == (4, 21, 35)


def test_the_floors_still_hold_when_the_base_brings_little() -> None:
    """Cut-offs never fall below one typical order (A) and a quarter of one (B), whatever the ranking gives."""
    orders = [buyer(1, 1, 30 + i, 0.02) for i in range(40)] + [buyer(1, 1, 30, 40.0)]
    model = fit(orders)
    a, b = model.tier_cutoffs
    assert a >= 0.02 and b >= 0.01 and a >= b


def test_an_empty_base_has_no_cut_offs() -> None:
    model = fit([])
    assert model.tier_cutoffs == () and model.statistics["customers_ranked"] == 0
