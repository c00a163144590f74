"""Read-side SQL for the console: a customer's facts as dated items, and the segment overview."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, String, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_risk.adapters.tables import customers, orders, signals, status_changes
from winback_shared.timeline import Before, Entry, newest_first, older_than


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f") if value else "0"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _signal_item(r: Any) -> dict[str, Any] | None:
    """A stored signal as a timeline item; None for a kind the timeline does not show."""
    kind, ref = r.kind, r.ref
    details: dict[str, Any]
    match kind:
        case "ticket_opened":
            return {"type": "ticket_opened", "ref": ref, "details": {"ticket_id": ref, "category": r.label}}
        case "ticket_resolved":
            satisfaction = int(r.value) if r.value is not None else None
            details = {"ticket_id": ref, "outcome": r.label, "satisfaction": satisfaction}
            return {"type": "ticket_resolved", "ref": ref, "details": details}
        case "survey":
            score = int(r.value) if r.value is not None and float(r.value).is_integer() else r.value
            return {"type": "survey_answered", "ref": None, "details": {"survey": r.label, "score": score}}
        case "usage":
            return {"type": "usage_reported", "ref": ref, "details": {"metric": ref, "value": r.value}}
        case "contract_started":
            details = {"contract_id": ref, "monthly_value": _money(r.amount), "end_date": _day(r.ends_on)}
            return {"type": "contract_started", "ref": ref, "details": details}
        case "contract_renewed":
            details = {"contract_id": ref, "end_date": _day(r.ends_on)}
            return {"type": "contract_renewed", "ref": ref, "details": details}
        case "contract_cancelled":
            details = {"contract_id": ref, "reason_code": r.label, "effective_date": _day(r.ends_on)}
            return {"type": "contract_cancelled", "ref": ref, "details": details}
        case "return":
            amount = _money(r.amount) if r.amount is not None else (None if r.value is None else str(r.value))
            return {"type": "order_returned", "ref": ref, "details": {"order_id": ref, "amount": amount}}
        case "contact":
            return {"type": "campaign_response", "ref": ref, "details": {"action_id": ref, "outcome": r.label}}
    return None


# Far above any real customer's number of status changes; bounds a read all the same.
MAX_STATUS_CHANGES = 10_000
STATUS_FIELDS = (
    "from",
    "to",
    "reasons",
    "churn_reason",
    "segment",
    "value_tier",
    "winback_eligible",
    "risk_score",
    "winback_probability",
    "caused_by",
)


async def timeline_entries(session: AsyncSession, customer_id: str, before: Before | None, limit: int) -> list[Entry]:
    """The newest `limit` items of each source older than `before` (the caller merges and pages them)."""
    entries: list[Entry] = []
    o, s, h = orders, signals, status_changes

    order_key = literal("order:").concat(o.c.order_id)
    rows = await session.execute(
        select(o, order_key.label("k"))
        .where(o.c.customer_id == customer_id, older_than(o.c.ordered_at, order_key, before))
        .order_by(*newest_first(o.c.ordered_at, order_key))
        .limit(limit)
    )
    for r in rows:
        details = {"order_id": r.order_id, "amount": _money(r.amount), "margin": _money(r.margin)}
        entries.append(Entry(r.ordered_at, r.k, {"type": "order_placed", "ref": r.order_id, "details": details}))

    # Zero-padded, so the key's byte order is the id's order.
    signal_key = literal("signal:").concat(func.lpad(cast(s.c.id, String), 19, "0"))
    rows = await session.execute(
        select(s, signal_key.label("k"))
        .where(s.c.customer_id == customer_id, older_than(s.c.at, signal_key, before))
        .order_by(*newest_first(s.c.at, signal_key))
        .limit(limit)
    )
    for r in rows:
        item = _signal_item(r)
        if item is not None:
            entries.append(Entry(r.at, r.k, item))

    # A customer's status changes are few: read them all, parse, and page them in Python.
    rows = await session.execute(select(h.c.payload).where(h.c.customer_id == customer_id).limit(MAX_STATUS_CHANGES))
    seen: set[str] = set()
    for (payload,) in rows:
        event = json.loads(payload)
        data = event.get("data", {})
        at = datetime.fromisoformat(data["at"])
        key = f"status:{event['id']}"
        if key in seen or (before is not None and (at, key) >= (before.at, before.key)):
            continue
        seen.add(key)
        details = {f: data.get(f) for f in STATUS_FIELDS}
        details["reasons"] = details["reasons"] or []
        entries.append(Entry(at, key, {"type": "status_changed", "ref": event["id"], "details": details}))
    return entries


async def is_known(session: AsyncSession, customer_id: str) -> bool:
    found = await session.scalar(select(customers.c.customer_id).where(customers.c.customer_id == customer_id))
    return found is not None


async def quadrants(session: AsyncSession) -> list[Any]:
    """Customers and revenue per stored segment (NULL: not assessed into one yet)."""
    c = customers
    stmt = select(c.c.segment, func.count().label("customers"), func.coalesce(func.sum(c.c.revenue), 0).label("value"))
    return list((await session.execute(stmt.group_by(c.c.segment))).all())


async def at_risk(session: AsyncSession, limit: int) -> list[Any]:
    """At-risk customers by risk score times revenue, highest first."""
    c = customers
    priority = (func.coalesce(c.c.risk_score, 0) * cast(c.c.revenue, Float)).label("priority")
    stmt = (
        select(c.c.customer_id, c.c.status, c.c.risk_score, c.c.revenue, priority)
        .add_columns(c.c.segment, c.c.value_tier, c.c.churn_reason)
        .where(c.c.status == "at_risk")
        .order_by(priority.desc(), c.c.customer_id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).all())


_LAPSED = text(
    """
    WITH lapsed AS (
        SELECT customer_id, revenue, value_tier, segment, orders, last_order_at
        FROM risk.customers WHERE status = 'lapsed'
    ), rhythm AS (
        SELECT o.customer_id, count(DISTINCT o.order_date) AS days,
               min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at
        FROM risk.orders o JOIN lapsed l ON l.customer_id = o.customer_id
        GROUP BY o.customer_id
    ), measured AS (
        SELECT l.*,
               CASE WHEN r.days >= 2 AND r.last_at > r.first_at
                    THEN extract(epoch FROM r.last_at - r.first_at) / 86400.0 / (r.days - 1) END AS mean_interval_days,
               CASE WHEN l.last_order_at IS NOT NULL
                    THEN greatest(extract(epoch FROM CAST(:now AS timestamptz) - l.last_order_at) / 86400.0, 0) END
                   AS days_since_last_order
        FROM lapsed l LEFT JOIN rhythm r ON r.customer_id = l.customer_id
    )
    SELECT *, days_since_last_order / nullif(mean_interval_days, 0) AS overdue_ratio
    FROM measured
    ORDER BY overdue_ratio DESC NULLS LAST, customer_id
    LIMIT :limit
    """
)


async def lapsed(session: AsyncSession, now: datetime, limit: int) -> list[Any]:
    """Lapsed customers against their own rhythm: most overdue (days since / mean interval) first."""
    return list((await session.execute(_LAPSED, {"now": now, "limit": limit})).all())
