"""Scoring customers inside a transaction: facts in, scores and status changes out (via the outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from winback_risk.domain.customer import CustomerState, StatusChange
from winback_risk.domain.lifecycle import apply_assessment
from winback_risk.domain.model.population import PopulationModel
from winback_risk.domain.scoring import (
    Assessment,
    CustomerFacts,
    OrderSummary,
    RiskConfig,
    assess_customers,
    moved_materially,
)
from winback_risk.service_layer.ids import uuid5_text
from winback_risk.service_layer.unit_of_work import Facts
from winback_shared.events.produced import CustomerRiskAssessed

_ID_NAMESPACE = uuid.UUID("0b7a9f52-3d41-4c8e-9e65-5a2f1c7d8b30")


@dataclass(frozen=True, slots=True)
class Outcome:
    changes: list[StatusChange]
    assessed: list[CustomerRiskAssessed]


def facts_of(state: CustomerState, orders: OrderSummary | None, signals: Sequence[object]) -> CustomerFacts:
    return CustomerFacts(
        customer_id=state.customer_id,
        base_status=state.status or "active",
        orders=orders or OrderSummary(),
        signals=tuple(signals),  # type: ignore[arg-type]
        churn_reason=state.churn_reason,
        churn_count=state.churn_count,
        churned_at=state.churned_at,
        winback_eligible=state.winback_eligible,
        revenue=state.revenue,
        margin=state.margin,
    )


async def load_facts(
    facts: Facts, states: Sequence[CustomerState], as_of: datetime | Sequence[datetime]
) -> list[CustomerFacts]:
    """Facts of the customers up to as_of (one moment for all, or one each), two statements for all."""
    ids = [s.customer_id for s in states]
    moments = [as_of] * len(states) if isinstance(as_of, datetime) else list(as_of)
    # The row's last order is the last one up to a moment at or after it (the consumer's, the assessor's).
    last = [s.last_order_at if s.last_order_at is not None and s.last_order_at <= m else None
            for s, m in zip(states, moments, strict=True)]  # fmt: skip
    churned = [s.churned_at for s in states]
    summaries = await facts.order_summaries(ids, moments, churned, last)
    # One moment for all: signals older than the drivers' windows stay in the database.
    signals = await facts.signals_of(ids, as_of if isinstance(as_of, datetime) else None)
    return [facts_of(s, summaries.get(s.customer_id), signals.get(s.customer_id, ())) for s in states]


def money(value: Decimal | None) -> str | None:
    """An amount as the events and the API write it: exact, without trailing zeros ("79200", "12.5")."""
    return None if value is None else format(value.normalize(), "f") if value else "0"


def _prediction(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def risk_assessed_event(a: Assessment, source: str, horizon_days: int) -> CustomerRiskAssessed:
    key = f"{a.customer_id}\x00{a.as_of.isoformat()}\x00{a.risk_score}"
    return CustomerRiskAssessed.new(
        source=source,
        time=a.as_of,
        id=uuid5_text(_ID_NAMESPACE, key),
        data={
            "customer_id": a.customer_id,
            "risk_score": a.risk_score,
            "drivers": a.drivers,
            "p_alive": a.p_alive,
            "expected_orders": a.expected_orders,
            "horizon_days": horizon_days,
            "as_of": a.as_of,
            "predicted_clv_12m": _prediction(a.predicted_clv_12m),
            "value_tier": a.value_tier,
            "status": a.status,
            "segment": a.segment,
            "winback_probability": a.winback_probability,
            "predicted_value_if_retained_12m": _prediction(a.value.predicted_value_if_retained_12m),
            "revenue_12m_before_churn": money(a.value.revenue_12m_before_churn),
            "margin_12m_before_churn": money(a.value.margin_12m_before_churn),
        },
    )


def as_assessed(change: StatusChange, state: CustomerState, a: Assessment) -> StatusChange:
    """The change as the batch's final assessment of its customer sees it (segment, tier, reason, eligibility, value).

    A change caused by an event is made before the batch is scored; what it publishes must be
    what the same batch assessed, or a playbook step for tier A is dropped for a customer who
    is tier A (campaign enrols on these fields).
    """
    return replace(
        change,
        churn_reason=a.churn_reason,
        winback_eligible=state.winback_eligible,
        segment=a.segment,
        value_tier=a.value_tier,
        winback_probability=a.winback_probability,
        risk_score=a.risk_score,
        predicted_value_if_retained_12m=a.value.predicted_value_if_retained_12m,
        revenue_12m_before_churn=a.value.revenue_12m_before_churn,
        margin_12m_before_churn=a.value.margin_12m_before_churn,
    )


def score_states(
    states: Sequence[CustomerState],
    facts: Sequence[CustomerFacts],
    as_of: datetime | Sequence[datetime],
    model: PopulationModel,
    config: RiskConfig,
    *,
    horizon_days: int,
    basis: str,
    source: str,
    changes: Sequence[StatusChange] = (),
) -> Outcome:
    """Assess, store the scores on the states, apply status moves; events for what changed.

    `changes` are the batch's status changes caused by events: they are published, like the
    ones the scores cause, with what this assessment found (`as_assessed`).
    """
    assessments = assess_customers(facts, model, as_of, horizon_days, config, value_basis=basis)
    by_customer: dict[str, tuple[CustomerState, Assessment]] = {}
    found: list[StatusChange] = list(changes)
    assessed: list[CustomerRiskAssessed] = []
    for state, a in zip(states, assessments, strict=True):
        if moved_materially(state.risk_score, a.risk_score, config):
            assessed.append(risk_assessed_event(a, source, horizon_days))
        state.risk_score = a.risk_score
        state.p_alive = a.p_alive
        state.value_tier = a.value_tier
        state.segment = a.segment
        state.winback_probability = a.winback_probability
        state.assessed_at = a.as_of
        change = apply_assessment(
            state, a.status, a.status_reasons, a.as_of, churn_reason=a.churn_reason, churn_evidence=a.churn_evidence
        )
        if change is not None:
            found.append(change)
        by_customer[state.customer_id] = (state, a)
    final = [as_assessed(c, *by_customer[c.customer_id]) if c.customer_id in by_customer else c for c in found]
    return Outcome(final, assessed)
