"""SQL over `risk.customers` and `risk.progress`; callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from winback_risk.adapters.tables import customers, progress
from winback_risk.domain.customer import CustomerState

STATE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CustomerState))


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    status: str | None = None
    winback_eligible: bool | None = None
    segment: str | None = None
    value_tier: str | None = None
    min_risk: float | None = None


def _state(row: RowMapping) -> CustomerState:
    return CustomerState(**{name: row[name] for name in STATE_COLUMNS})


def _row(state: CustomerState, now: datetime) -> dict[str, Any]:
    row = {name: getattr(state, name) for name in STATE_COLUMNS}
    row["updated_at"] = now
    return row


async def load_for_update(session: AsyncSession, customer_ids: Collection[str]) -> dict[str, CustomerState]:
    """The known customers among `customer_ids`, row-locked in key order (no deadlocks)."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(customers)
        .where(customers.c.customer_id.in_(sorted(customer_ids)))
        .order_by(customers.c.customer_id)
        .with_for_update()
    )
    return {row["customer_id"]: _state(row) for row in rows.mappings()}


async def save(session: AsyncSession, states: Iterable[CustomerState], now: datetime) -> None:
    """Insert or overwrite the customers' rows (one multi-row statement)."""
    rows = [_row(state, now) for state in sorted(states, key=lambda s: s.customer_id)]
    if not rows:
        return
    stmt = insert(customers)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[customers.c.customer_id],
            set_={name: stmt.excluded[name] for name in (*STATE_COLUMNS[1:], "updated_at")},
        ),
        rows,
    )


async def advance_progress(session: AsyncSession, event_time: datetime) -> None:
    """Raise the highest applied event time (never lowers it)."""
    await session.execute(
        update(progress)
        .where(progress.c.id == 1)
        .values(highest_event_time=func.greatest(func.coalesce(progress.c.highest_event_time, event_time), event_time))
    )


async def highest_event_time(session: AsyncSession) -> datetime | None:
    value: datetime | None = await session.scalar(select(progress.c.highest_event_time).where(progress.c.id == 1))
    return value


async def get(session: AsyncSession, customer_id: str) -> CustomerState | None:
    row = (await session.execute(select(customers).where(customers.c.customer_id == customer_id))).mappings().first()
    return _state(row) if row is not None else None


async def list_page(
    session: AsyncSession, where: CustomerFilter, *, after: str | None, limit: int
) -> list[CustomerState]:
    """Up to `limit` customers matching the filter, ordered by id, starting after `after`."""
    c = customers.c
    query = select(customers).order_by(c.customer_id).limit(limit)
    if after is not None:
        query = query.where(c.customer_id > after)
    if where.status is not None:
        query = query.where(c.status == where.status)
    if where.winback_eligible is not None:
        query = query.where(c.winback_eligible == where.winback_eligible)
    if where.segment is not None:
        query = query.where(c.segment == where.segment)
    if where.value_tier is not None:
        query = query.where(c.value_tier == where.value_tier)
    if where.min_risk is not None:
        query = query.where(c.risk_score >= where.min_risk)
    return [_state(row) for row in (await session.execute(query)).mappings()]
