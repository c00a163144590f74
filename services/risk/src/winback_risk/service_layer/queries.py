"""Read side: customers and progress as the API shows them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import repository
from winback_risk.adapters.repository import CustomerFilter
from winback_risk.domain.buying_cycle import buying_cycle
from winback_risk.domain.customer import CustomerState


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


def customer_view(state: CustomerState, as_of: datetime, horizon_days: int) -> dict[str, Any]:
    """The customer object of the API; what the scoring model will fill is null until then."""
    cycle = buying_cycle(state.orders, state.first_order_at, state.last_order_at, as_of)
    return {
        "customer_id": state.customer_id,
        "kind": state.kind,
        "status": state.status,
        "status_since": _iso(state.status_since),
        "risk_score": state.risk_score,
        "drivers": [],
        "p_alive": None,
        "expected_orders": None,
        "buying_cycle": {
            "orders": cycle.orders,
            "first_order_at": _iso(cycle.first_order_at),
            "last_order_at": _iso(cycle.last_order_at),
            "mean_interval_days": cycle.mean_interval_days,
            "days_since_last_order": cycle.days_since_last_order,
            "overdue_ratio": cycle.overdue_ratio,
        },
        "value": {
            "revenue": _money(state.revenue),
            "margin": _money(state.margin),
            "predicted_clv_12m": None,
            "value_tier": state.value_tier,
        },
        "churn_reason": state.churn_reason,
        "churn_evidence": state.churn_evidence,
        "churned_at": _iso(state.churned_at),
        "won_back_at": _iso(state.won_back_at),
        "winback_probability": None,
        "segment": state.segment,
        "winback_eligible": state.winback_eligible,
        "as_of": as_of.isoformat(),
        "horizon_days": horizon_days,
    }


async def get_customer(
    sessions: async_sessionmaker[AsyncSession], customer_id: str, as_of: datetime, horizon_days: int
) -> dict[str, Any] | None:
    async with sessions() as session:
        state = await repository.get(session, customer_id)
    return customer_view(state, as_of, horizon_days) if state is not None else None


async def list_customers(
    sessions: async_sessionmaker[AsyncSession],
    where: CustomerFilter,
    *,
    cursor: str | None,
    limit: int,
    as_of: datetime,
    horizon_days: int,
) -> Page:
    """One page; `next_cursor` is null on the last page."""
    after = decode_cursor(cursor) if cursor is not None else None
    async with sessions() as session:
        # One extra row tells whether another page follows.
        states = await repository.list_page(session, where, after=after, limit=limit + 1)
    more = len(states) > limit
    states = states[:limit]
    return Page(
        items=[customer_view(s, as_of, horizon_days) for s in states],
        next_cursor=encode_cursor(states[-1].customer_id) if more and states else None,
    )


async def highest_event_time(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with sessions() as session:
        return await repository.highest_event_time(session)
