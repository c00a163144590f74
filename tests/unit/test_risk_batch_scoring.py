"""The one assessment over a batch (the model vectorised across customers) equals assessing each customer alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from winback_risk.domain.facts import Signal
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.population import PRIOR, PopulationModel
from winback_risk.domain.scoring import Assessment, CustomerFacts, OrderSummary, RiskConfig, assess_customers

NOW = datetime(2024, 6, 1, tzinfo=UTC)
MODELS = {
    "prior": PRIOR,
    "tiered": PopulationModel(
        purchases=PRIOR.purchases, spend=GammaGamma(p=6.25, q=3.74, gamma=15.44), tier_cutoffs=(400.0, 150.0)
    ),
}
KINDS = (
    "ticket_opened",
    "ticket_resolved",
    "survey",
    "usage",
    "contract_started",
    "contract_cancelled",
    "contact",
    "return",
)


def random_orders(rng: random.Random) -> OrderSummary:
    if rng.random() < 0.1:
        return OrderSummary()
    occasions = rng.choice([1, 1, 2, 3, rng.randint(1, 60)])
    first = NOW - timedelta(seconds=rng.randint(0, 800 * 86_400))
    # Some customers bought only on one day, several times: no positive interval.
    last = first if rng.random() < 0.1 else first + (NOW - first) * rng.random()
    day: dict[str, Any] = {"hour": 0, "minute": 0, "second": 0, "microsecond": 0}
    orders = occasions + rng.randint(0, 3)
    revenue = Decimal(rng.randint(1, 10_000)) / 100 * orders
    return OrderSummary(
        occasions, orders, first, last, first.replace(**day), last.replace(**day), revenue,
        revenue * Decimal("0.3"), rng.random() < 0.7,
    )  # fmt: skip


def random_signal(rng: random.Random, customer_id: str) -> Signal:
    kind = rng.choice(KINDS)
    at = NOW - timedelta(days=rng.uniform(0, 300))
    label = {"ticket_opened": "complaint", "survey": rng.choice(["nps", "csat"]), "contract_started": "2024-07-01"}
    # Contracts pay a monthly value (some none) and may carry an effective date; returns an amount.
    amount = Decimal(rng.randint(0, 500)) if kind in ("contract_started", "return") else None
    ends_on = (
        (at + timedelta(days=rng.randint(0, 90))).date()
        if kind == "contract_cancelled" and rng.random() < 0.5
        else None
    )
    return Signal(
        customer_id, at, kind, f"r{rng.randint(0, 2)}", float(rng.randint(0, 10)), label.get(kind), amount, ends_on
    )


def random_facts(rng: random.Random, i: int) -> CustomerFacts:
    customer_id = f"c{i}"
    signals = tuple(random_signal(rng, customer_id) for _ in range(rng.choice([0, 0, 0, 1, 4])))
    status = rng.choice(["active", "active", "at_risk", "lapsed", "churned", "won_back"])
    churned = NOW - timedelta(days=rng.uniform(0, 500)) if status in ("churned", "won_back") else None
    return CustomerFacts(
        customer_id, status, random_orders(rng), signals,  # type: ignore[arg-type]
        churn_reason=rng.choice([None, "unknown", "price"]), churn_count=rng.randint(0, 3), churned_at=churned,
        winback_eligible=rng.random() < 0.8,
    )  # fmt: skip


def alone(f: CustomerFacts, moment: datetime, model: PopulationModel, basis: str) -> Assessment:
    """The reference: one customer assessed on their own (the model evaluated for that customer only)."""
    [a] = assess_customers([f], model, moment, 90, RiskConfig(), value_basis=basis)
    return a


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_batch_assessment_equals_each_customer_alone(seed: int, model_name: str) -> None:
    rng = random.Random(seed)
    model, basis = MODELS[model_name], rng.choice(["margin", "revenue"])
    facts = [random_facts(rng, i) for i in range(400)]
    moments = [NOW - timedelta(seconds=rng.randint(0, 86_400)) for _ in facts]
    batch = assess_customers(facts, model, moments, 90, RiskConfig(), value_basis=basis)
    assert batch == [alone(f, m, model, basis) for f, m in zip(facts, moments, strict=True)]
    # Customers with and without signals, and every status the rules give, were in the batch.
    assert any(not f.signals for f in facts) and any(f.signals for f in facts)
    assert {a.status for a in batch} >= {"active", "lapsed", "churned", "at_risk", "won_back"}
