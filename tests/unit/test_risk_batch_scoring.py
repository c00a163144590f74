"""The batch scoring path (numpy across customers, plain fast path) equals scoring each customer alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from winback_risk.domain.facts import Signal
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.population import PRIOR, PopulationModel, cycle_scores
from winback_risk.domain.scoring import (
    Assessment,
    CustomerFacts,
    OrderSummary,
    Quick,
    RiskConfig,
    Scored,
    assess_lean,
    assess_many,
    assess_one,
    expand,
    summaries_of,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)
MODELS = {
    "prior": PRIOR,
    "tiered": PopulationModel(
        purchases=PRIOR.purchases, spend=GammaGamma(p=6.25, q=3.74, gamma=15.44), tier_cutoffs=(400.0, 150.0)
    ),
}
KINDS = ("ticket_opened", "ticket_resolved", "survey", "usage", "contract_started", "contract_cancelled", "contact")


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
    return Signal(customer_id, at, kind, f"r{rng.randint(0, 2)}", float(rng.randint(0, 10)), label.get(kind))


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
    """The reference: one customer, its model scores computed alone, the general (all drivers) path."""
    summaries, has = summaries_of([f], [moment], basis)
    scored: Scored | None = None
    if has[0]:
        s = cycle_scores(model, summaries, 90.0)
        scored = (float(s.p_alive[0]), float(s.expected_orders[0]), float(s.clv_12m[0]))
    return assess_one(f, moment, scored, model, 90, RiskConfig())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_batch_assessment_equals_each_customer_alone(seed: int, model_name: str) -> None:
    rng = random.Random(seed)
    model, basis = MODELS[model_name], rng.choice(["margin", "revenue"])
    facts = [random_facts(rng, i) for i in range(400)]
    moments = [NOW - timedelta(seconds=rng.randint(0, 86_400)) for _ in facts]
    batch = assess_many(facts, model, moments, 90, RiskConfig(), value_basis=basis)
    assert batch == [alone(f, m, model, basis) for f, m in zip(facts, moments, strict=True)]
    # Both paths were exercised, and both the lapsed/churned and the scored branches.
    assert any(not f.signals for f in facts) and any(f.signals for f in facts)
    assert {a.status for a in batch} >= {"active", "lapsed", "churned"}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_lean_assessment_stores_what_the_full_one_would(seed: int, model_name: str) -> None:
    rng = random.Random(100 + seed)
    model, basis, config = MODELS[model_name], rng.choice(["margin", "revenue"]), RiskConfig()
    facts = [random_facts(rng, i) for i in range(400)]
    moments = [NOW - timedelta(seconds=rng.randint(0, 86_400)) for _ in facts]
    lean = assess_lean(facts, model, moments, 90, config, value_basis=basis)
    full = assess_many(facts, model, moments, 90, config, value_basis=basis)
    for f, a, reference in zip(facts, lean, full, strict=True):
        # Every field a Quick carries equals the full assessment's, and expanding it gives that assessment.
        if isinstance(a, Quick):
            assert not f.signals
            stored = {k: v for k, v in a._asdict().items() if k != "scored"}
            assert stored == {k: getattr(reference, k) for k in stored}, f.customer_id
        else:
            assert f.signals
        assert expand(a, f, model, 90, config) == reference
    assert any(isinstance(a, Quick) for a in lean) and any(isinstance(a, Assessment) for a in lean)
    assert {a.status for a in lean if isinstance(a, Quick)} >= {"active", "lapsed", "churned"}
