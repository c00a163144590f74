"""Timestamps sent as int8 microseconds, numerics and strings as text literals arrive exactly as given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import facts_repository, repository
from winback_risk.adapters.tables import orders
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.facts import OrderFact
from winback_shared.db.arrays import text_array

pytestmark = pytest.mark.integration

# Edges of what a datetime holds, both sides of the epoch, sub-second parts and a non-UTC offset.
TIMES = [
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 30, 0, 123_456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2255, 6, 1, 12, 0, 0, 654_321, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


async def test_orders_keep_exact_times_amounts_and_days(risk_sessions: async_sessionmaker[AsyncSession]) -> None:
    amounts = [Decimal("0.000001"), Decimal("-12.5"), Decimal("1E+3"), Decimal("123456789012.123456")]
    facts = [
        OrderFact("arr-o", f"o-{i}", at, amounts[i % len(amounts)], None if i % 2 else Decimal("0.10"))
        for i, at in enumerate(TIMES)
    ]
    async with risk_sessions.begin() as session:
        await facts_repository.insert_orders(session, facts)
    async with risk_sessions.begin() as session:
        rows = (await session.execute(select(orders).where(orders.c.customer_id == "arr-o"))).mappings().all()
    stored = {row["order_id"]: row for row in rows}
    for fact in facts:
        row = stored[fact.order_id]
        assert row["ordered_at"] == fact.ordered_at
        assert row["order_date"] == fact.ordered_at.astimezone(UTC).date()
        assert row["amount"] == fact.amount
        assert row["margin"] == fact.margin


async def test_customer_rows_keep_exact_times_and_money(risk_sessions: async_sessionmaker[AsyncSession]) -> None:
    states = [
        CustomerState(
            customer_id=f"arr-c{i}",
            status="active",
            status_since=at,
            revenue=Decimal("-0.000001") * i,
            margin=Decimal("987654321.5"),
            first_seen_at=at,
            last_event_time=at,
            churned_at=None if i % 2 else at,
            assessed_at=at,
        )
        for i, at in enumerate(TIMES)
    ]
    # Strings the array literals must quote and escape (quotes, backslashes, braces, commas, "NULL").
    states.append(
        CustomerState(
            customer_id='arr-c "q" \\ {x,y}',
            kind="NULL",
            status="churned",
            status_since=TIMES[2],
            churn_reason='a\\"b',
            churn_evidence={"text": 'say "hi" \\ {}', "n": None},
            last_event_source="/src,1",
            last_event_id="",
        )
    )
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    async with risk_sessions.begin() as session:
        await repository.save(session, states, now)
    async with risk_sessions.begin() as session:
        loaded = await repository.load_for_update(session, [s.customer_id for s in states])
    assert [loaded[s.customer_id] for s in states] == states


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
                                 st.none())))  # fmt: skip
async def test_text_array_literals_arrive_as_the_strings_given(
    risk_sessions: async_sessionmaker[AsyncSession], values: list[str | None]
) -> None:
    """What a list bound as varchar[] gave, the literal gives: the same strings and NULLs, in order."""
    async with risk_sessions.begin() as session:
        literal = await session.scalar(text("SELECT CAST(CAST(:v AS text) AS varchar[])"), {"v": text_array(values)})
        listed = await session.scalar(text("SELECT CAST(:v AS varchar[])"), {"v": values})
    assert literal == listed == values
