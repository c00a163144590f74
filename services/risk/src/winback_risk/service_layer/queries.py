"""Read side: customers and progress as the API shows them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import repository
from winback_risk.adapters.repository import CustomerFilter
from winback_risk.adapters.unit_of_work import SqlFacts
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.scoring import Assessment, assess_customers
from winback_risk.service_layer import assessment
from winback_risk.service_layer.handlers import Scoring


class InvalidCursor(ValueError):
    """The cursor was not issued by this service."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(customer_id: str) -> str:
    return base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(f"cursor {cursor!r} is not one this service issued") from exc
    if not value:
        raise InvalidCursor(f"cursor {cursor!r} is not one this service issued")
    return value


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def customer_view(state: CustomerState, a: Assessment) -> dict[str, Any]:
    """The customer object of the API, from the stored lifecycle and the assessment at as_of."""
    cycle = a.cycle
    return {
        "customer_id": state.customer_id,
        "kind": state.kind,
        "status": a.status,
        "status_since": _iso(state.status_since if a.status == state.status else a.as_of),
        "risk_score": a.risk_score,
        "drivers": a.drivers,
        "p_alive": a.p_alive,
        "expected_orders": a.expected_orders,
        "buying_cycle": {
            "orders": cycle.orders,
            "first_order_at": _iso(cycle.first_order_at),
            "last_order_at": _iso(cycle.last_order_at),
            "mean_interval_days": cycle.mean_interval_days,
            "days_since_last_order": cycle.days_since_last_order,
            "overdue_ratio": cycle.overdue_ratio,
        },
        "value": value_view(a),
        "churn_reason": a.churn_reason,
        "churn_evidence": a.churn_evidence if a.churn_evidence is not None else state.churn_evidence,
        "churned_at": _iso(state.churned_at),
        "won_back_at": _iso(state.won_back_at),
        "days_to_winback": state.days_to_winback,
        "winback_probability": a.winback_probability,
        "segment": a.segment,
        "winback_eligible": state.winback_eligible,
        "as_of": a.as_of.isoformat(),
        "horizon_days": a.horizon_days,
    }


def value_view(a: Assessment) -> dict[str, Any]:
    """`value` of the customer object: the spec's fields and the value of the relationship (README)."""
    v = a.value
    return {
        "revenue": _money(v.revenue),
        "margin": _money(v.margin),
        "predicted_clv_12m": a.predicted_clv_12m,
        "value_tier": a.value_tier,
        "revenue_12m_before_churn": _money(v.revenue_12m_before_churn),
        "margin_12m_before_churn": _money(v.margin_12m_before_churn),
        "window_12m_end": v.window_end.isoformat(),
        "predicted_value_if_retained_12m": v.predicted_value_if_retained_12m,
    }


def as_of_state(state: CustomerState, as_of: datetime) -> CustomerState:
    """The lifecycle base at as_of: the stored status once it had begun, else active (see README)."""
    if state.status_since is None or state.status_since <= as_of:
        return state
    return replace(state, status="active", churn_reason=None, churned_at=None, churn_count=0)


async def _views(
    session: AsyncSession, states: list[CustomerState], as_of: datetime, horizon_days: int, scoring: Scoring
) -> list[dict[str, Any]]:
    if not states:
        return []
    bases = [as_of_state(s, as_of) for s in states]
    facts = await assessment.load_facts(SqlFacts(session), bases, as_of)
    found = assess_customers(facts, scoring.model, as_of, horizon_days, scoring.config, value_basis=scoring.basis)
    return [customer_view(s, a) for s, a in zip(states, found, strict=True)]


async def get_customer(
    sessions: async_sessionmaker[AsyncSession], customer_id: str, as_of: datetime, horizon_days: int, scoring: Scoring
) -> dict[str, Any] | None:
    async with sessions() as session:
        state = await repository.get(session, customer_id)
        if state is None or (state.first_seen_at is not None and state.first_seen_at > as_of):
            return None
        [view] = await _views(session, [state], as_of, horizon_days, scoring)
    return view


async def list_customers(
    sessions: async_sessionmaker[AsyncSession],
    where: CustomerFilter,
    *,
    cursor: str | None,
    limit: int,
    as_of: datetime,
    horizon_days: int,
    scoring: Scoring,
) -> Page:
    """One page; `next_cursor` is null on the last page. Filters apply to the stored (latest) scores."""
    after = decode_cursor(cursor) if cursor is not None else None
    async with sessions() as session:
        # One extra row tells whether another page follows.
        states = await repository.list_page(session, where, after=after, limit=limit + 1)
        more = len(states) > limit
        states = states[:limit]
        items = await _views(session, states, as_of, horizon_days, scoring)
    return Page(items=items, next_cursor=encode_cursor(states[-1].customer_id) if more and states else None)


async def highest_event_time(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with sessions() as session:
        return await repository.highest_event_time(session)
