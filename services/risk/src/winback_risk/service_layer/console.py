"""What the console reads from risk: the customer's timeline and the segment overview."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import repository
from winback_risk.adapters import timeline as t
from winback_risk.adapters.tables import customers
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.scoring import assess_customers
from winback_risk.service_layer import assessment
from winback_risk.service_layer.handlers import Scoring
from winback_risk.service_layer.queries import as_of_state, customer_view
from winback_shared.timeline import decode_before, page

SEGMENTS = ("star", "question_mark", "take_along", "loss")
# risk.md's quadrants as the teams name them.
LABELS = {
    "star": {"de": "Star", "en": "Star"},
    "question_mark": {"de": "Fragezeichen", "en": "Question mark"},
    "take_along": {"de": "Mitnahme", "en": "Take along"},
    "loss": {"de": "Verlust", "en": "Loss"},
}


class UnknownCustomer(LookupError):
    """Risk has no row for this id (never seen, or erased)."""


def _money(value: Decimal | int | None) -> str:
    value = Decimal(value or 0)
    return format(value.normalize(), "f") if value else "0"


def _round(value: float | Decimal | None) -> float | None:
    return None if value is None else round(float(value), 3)


async def timeline(
    sessions: async_sessionmaker[AsyncSession], customer_id: str, *, limit: int, before: str | None
) -> dict[str, Any]:
    """Orders, returns, contracts, tickets, surveys, usage, responses and status changes; newest first."""
    position = decode_before(before) if before is not None else None
    async with sessions() as session:
        if not await t.is_known(session, customer_id):
            raise UnknownCustomer(customer_id)
        entries = await t.timeline_entries(session, customer_id, position, limit + 1)
    items, next_before = page(entries, limit)
    return {"customer_id": customer_id, "items": items, "next_before": next_before}


async def segments(sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int) -> dict[str, Any]:
    """The four quadrants with counts and revenue, the at-risk list by risk x value, the lapsed by own rhythm."""
    async with sessions() as session:
        groups = {r.segment: r for r in await t.quadrants(session)}
        risky = await t.at_risk(session, limit)
        sleeping = await t.lapsed(session, now, limit)
    unsegmented = [r for s, r in groups.items() if s not in SEGMENTS]
    return {
        "quadrants": [
            {
                "segment": s,
                "label": LABELS[s],
                "customers": groups[s].customers if s in groups else 0,
                "value": _money(groups[s].value if s in groups else 0),
            }
            for s in SEGMENTS
        ],
        "unsegmented": {
            "customers": sum(r.customers for r in unsegmented),
            "value": _money(sum((Decimal(r.value) for r in unsegmented), Decimal(0))),
        },
        "at_risk": [
            {
                "customer_id": r.customer_id,
                "status": r.status,
                "risk_score": r.risk_score,
                "value": _money(r.revenue),
                "priority": _round(r.priority),
                "segment": r.segment,
                "value_tier": r.value_tier,
                "churn_reason": r.churn_reason,
            }
            for r in risky
        ],
        "lapsed": [
            {
                "customer_id": r.customer_id,
                "value": _money(r.revenue),
                "value_tier": r.value_tier,
                "segment": r.segment,
                "orders": r.orders,
                "last_order_at": r.last_order_at.isoformat() if r.last_order_at else None,
                "mean_interval_days": _round(r.mean_interval_days),
                "days_since_last_order": _round(r.days_since_last_order),
                "overdue_ratio": _round(r.overdue_ratio),
            }
            for r in sleeping
        ],
    }


async def customers_by_id(
    sessions: async_sessionmaker[AsyncSession],
    customer_ids: list[str],
    *,
    as_of: datetime,
    horizon_days: int,
    scoring: Scoring,
) -> dict[str, Any]:
    """The customer objects of GET /v1/customers/{id} for many ids at once, in the order asked; the rest unknown."""
    wanted = list(dict.fromkeys(customer_ids))
    async with sessions() as session:
        rows = (await session.execute(select(customers).where(customers.c.customer_id.in_(wanted)))).mappings()
        states = {r["customer_id"]: CustomerState(**{n: r[n] for n in repository.STATE_COLUMNS}) for r in rows}
        # As GET /v1/customers/{id}: a customer first seen after as_of is not known at as_of.
        known = [states[c] for c in wanted if c in states and not _after(states[c].first_seen_at, as_of)]
        facts = await assessment.load_facts(session, [as_of_state(s, as_of) for s in known], as_of) if known else []
    found = (
        assess_customers(facts, scoring.model, as_of, horizon_days, scoring.config, value_basis=scoring.basis)
        if known
        else []
    )
    items = [customer_view(s, a) for s, a in zip(known, found, strict=True)]
    shown = {s.customer_id for s in known}
    return {"items": items, "unknown": [c for c in wanted if c not in shown]}


def _after(first_seen: datetime | None, as_of: datetime) -> bool:
    return first_seen is not None and first_seen > as_of
