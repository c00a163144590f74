"""Scoring customers inside a transaction: facts in, scores and status changes out (via the outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from winback_risk.adapters import facts_repository
from winback_risk.domain.customer import CustomerState, StatusChange
from winback_risk.domain.lifecycle import apply_assessment
from winback_risk.domain.model.population import PopulationModel
from winback_risk.domain.scoring import (
    Assessment,
    CustomerFacts,
    OrderSummary,
    RiskConfig,
    assess_lean,
    expand,
    moved_materially,
)
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
    )


async def load_facts(
    session: AsyncSession, states: Sequence[CustomerState], as_of: datetime | None
) -> list[CustomerFacts]:
    """Facts of the customers up to as_of (None: everything stored), two statements for all."""
    ids = [s.customer_id for s in states]
    summaries = await facts_repository.order_summaries(session, ids, as_of)
    signals = await facts_repository.signals_of(session, ids, as_of)
    return [facts_of(s, summaries.get(s.customer_id), signals.get(s.customer_id, ())) for s in states]


def risk_assessed_event(a: Assessment, source: str, horizon_days: int) -> CustomerRiskAssessed:
    key = f"{a.customer_id}\x00{a.as_of.isoformat()}\x00{a.risk_score}"
    return CustomerRiskAssessed.new(
        source=source,
        time=a.as_of,
        id=str(uuid.uuid5(_ID_NAMESPACE, key)),
        data={
            "customer_id": a.customer_id,
            "risk_score": a.risk_score,
            "drivers": a.drivers,
            "p_alive": a.p_alive,
            "expected_orders": a.expected_orders,
            "horizon_days": horizon_days,
            "as_of": a.as_of,
            "predicted_clv_12m": None if a.predicted_clv_12m is None else f"{a.predicted_clv_12m:.2f}",
            "value_tier": a.value_tier,
        },
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
) -> Outcome:
    """Assess, store the scores on the states, apply status moves; events for what changed.

    The full assessment (drivers, cycle) is built only for the scores that moved materially.
    """
    assessments = assess_lean(facts, model, as_of, horizon_days, config, value_basis=basis)
    changes: list[StatusChange] = []
    assessed: list[CustomerRiskAssessed] = []
    for state, f, a in zip(states, facts, assessments, strict=True):
        if moved_materially(state.risk_score, a.risk_score, config):
            assessed.append(risk_assessed_event(expand(a, f, model, horizon_days, config), source, horizon_days))
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
            changes.append(change)
    return Outcome(changes, assessed)
