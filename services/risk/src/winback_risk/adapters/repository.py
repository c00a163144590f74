"""SQL over `risk.customers` and `risk.progress`; callers own the transaction."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import DateTime, Numeric, String, any_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from winback_risk.adapters.arrays import micros, numeric_literal, timestamp_of
from winback_risk.adapters.tables import customers, progress
from winback_risk.domain.customer import CustomerState
from winback_shared.db.arrays import text_array

STATE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CustomerState))
SAVED_COLUMNS: tuple[str, ...] = (*STATE_COLUMNS, "updated_at")
JSON_COLUMNS = frozenset(c.name for c in customers.columns if isinstance(c.type, JSONB))
TIME_COLUMNS = frozenset(c.name for c in customers.columns if isinstance(c.type, DateTime))
TEXT_COLUMNS = frozenset(c.name for c in customers.columns if isinstance(c.type, String))
NUMERIC_COLUMNS = frozenset(c.name for c in customers.columns if isinstance(c.type, Numeric))
# A list, not an array literal: `= ANY(CAST(literal AS varchar[]))` is not folded to a constant
# by the planner (array_in is only stable) and was evaluated for every row scanned (400 ms a batch).
IDS = bindparam("ids", type_=ARRAY(String))
# The state's columns in the dataclass's field order: rows construct states positionally.
STATE = tuple(customers.c[name] for name in STATE_COLUMNS)
_STATE_FIELDS = attrgetter(*STATE_COLUMNS)


def _upsert_statement() -> str:
    """INSERT ... SELECT FROM unnest(one array per column) ON CONFLICT DO UPDATE: one statement, any row count.

    A multi-row VALUES binds rows x columns parameters and costs more to compile than the
    database spends writing; arrays bind one parameter per column (bench/risk/README.md).
    Timestamps travel as int8 microseconds, numerics and strings (json included) as one text
    literal each (`arrays`, `winback_shared.db.arrays`).
    """
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = ", ".join(f'"{n}"' for n in SAVED_COLUMNS)

    def array(name: str) -> str:
        if name in JSON_COLUMNS:
            return f"CAST(CAST(:{name} AS text) AS text[])"
        if name in TEXT_COLUMNS:
            return f"CAST(CAST(:{name} AS text) AS {customers.c[name].type.compile(dialect=dialect)}[])"
        if name in TIME_COLUMNS:
            return f"CAST(:{name} AS int8[])"
        if name in NUMERIC_COLUMNS:
            return f"CAST(CAST(:{name} AS text) AS numeric[])"
        return f"CAST(:{name} AS {customers.c[name].type.compile(dialect=dialect)}[])"

    def picked(name: str) -> str:
        if name in JSON_COLUMNS:
            return f'CAST("{name}" AS jsonb)'
        return timestamp_of(f'"{name}"') if name in TIME_COLUMNS else f'"{name}"'

    arrays = ", ".join(array(n) for n in SAVED_COLUMNS)
    updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in SAVED_COLUMNS[1:])
    return (
        f"INSERT INTO {customers.fullname} ({names}) SELECT {', '.join(picked(n) for n in SAVED_COLUMNS)} "
        f"FROM unnest({arrays}) AS u({names}) ON CONFLICT (customer_id) DO UPDATE SET {updates}"
    )


UPSERT = text(_upsert_statement())


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    status: str | None = None
    winback_eligible: bool | None = None
    segment: str | None = None
    value_tier: str | None = None
    min_risk: float | None = None


def _state(row: RowMapping) -> CustomerState:
    return CustomerState(**{name: row[name] for name in STATE_COLUMNS})


async def plan_per_batch(session: AsyncSession) -> None:
    """Plan this transaction's statements for their actual arrays.

    After five executions PostgreSQL may switch a prepared statement to a generic plan that
    assumes a small `= ANY(array)`; with thousands of ids per batch that plan degraded a
    backlog replay batch after batch (4 x slower after 14,000 events, bench/risk/README.md).
    """
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def load_for_update(session: AsyncSession, customer_ids: Collection[str]) -> dict[str, CustomerState]:
    """The known customers among `customer_ids`, row-locked in key order (no deadlocks)."""
    if not customer_ids:
        return {}
    query = select(*STATE).where(customers.c.customer_id == any_(IDS)).order_by(customers.c.customer_id)
    rows = (await session.execute(query.with_for_update(), {"ids": sorted(customer_ids)})).all()
    return {row[0]: CustomerState(*row) for row in rows}


async def save(session: AsyncSession, states: Iterable[CustomerState], now: datetime) -> None:
    """Insert or overwrite the customers' rows (one statement, rows in key order)."""
    ordered = sorted(states, key=lambda s: s.customer_id)
    if not ordered:
        return
    # One C call per state for all its fields, then columns by transposing: a getattr per field and
    # state in Python was a fifth of the save's time in the profile.
    columns = dict(zip(STATE_COLUMNS, zip(*map(_STATE_FIELDS, ordered), strict=True), strict=True))
    params: dict[str, Sequence[Any] | str] = {"updated_at": micros([now]) * len(ordered)}
    for name, values in columns.items():
        if name in JSON_COLUMNS:
            params[name] = text_array([None if v is None else json.dumps(v) for v in values])
        elif name in TEXT_COLUMNS:
            params[name] = text_array(values)
        elif name in TIME_COLUMNS:
            params[name] = micros(values)
        elif name in NUMERIC_COLUMNS:
            params[name] = numeric_literal(values)
        else:
            params[name] = list(values)
    await session.execute(UPSERT, params)


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
        # The band narrows by index (risk_score >= m implies band >= floor(10 m), the same IEEE
        # product here as in the database), the exact score decides.
        band = math.floor(where.min_risk * 10)
        query = query.where(c.risk_band >= band, c.risk_score >= where.min_risk)
    return [_state(row) for row in (await session.execute(query)).mappings()]
