"""Customer rows: the min_risk filter over the risk band, and rewrites that stay heap-only (HOT)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import repository
from winback_risk.adapters.repository import CustomerFilter
from winback_risk.domain.customer import CustomerState

pytestmark = pytest.mark.integration

AT = datetime(2025, 5, 1, tzinfo=UTC)
# Scores on and beside band edges (0.7 * 10 is 7.000000000000001 in IEEE arithmetic), the ends, none.
SCORES = [None, 0.0, 0.0999999, 0.1, 0.3, 0.69999999, 0.7, 0.70000001, 0.95, 1.0]


def state(customer_id: str, score: float | None) -> CustomerState:
    return CustomerState(customer_id=customer_id, status="active", status_since=AT, risk_score=score)


async def test_min_risk_lists_exactly_the_customers_at_or_above_it(
    risk_sessions: async_sessionmaker[AsyncSession],
) -> None:
    states = [state(f"band-{i:02d}", score) for i, score in enumerate(SCORES)]
    async with risk_sessions.begin() as session:
        await repository.save(session, states, AT)
    for threshold in [0.0, 0.0999999, 0.1, 0.5, 0.69999999, 0.7, 0.70000001, 0.99, 1.0]:
        async with risk_sessions.begin() as session:
            page = await repository.list_page(session, CustomerFilter(min_risk=threshold), after="band-", limit=100)
        listed = [s.customer_id for s in page if s.customer_id.startswith("band-")]
        expected = [s.customer_id for s in states if s.risk_score is not None and s.risk_score >= threshold]
        assert listed == expected, threshold


async def test_rewriting_a_customer_whose_score_moved_within_its_band_is_heap_only(
    risk_sessions: async_sessionmaker[AsyncSession],
) -> None:
    before = [state(f"hot-{i}", 0.31) for i in range(20)]
    async with risk_sessions.begin() as session:
        await repository.save(session, before, AT)
    within = [replace(s, risk_score=0.38, orders=3) for s in before]
    across = [replace(s, risk_score=0.52) for s in within[:5]]
    async with risk_sessions.begin() as session:
        await repository.save(session, within, AT)
        hot = await session.scalar(text("SELECT pg_stat_get_xact_tuples_hot_updated('risk.customers'::regclass)"))
        await repository.save(session, across, AT)
        hot_after = await session.scalar(text("SELECT pg_stat_get_xact_tuples_hot_updated('risk.customers'::regclass)"))
        updated = await session.scalar(text("SELECT pg_stat_get_xact_tuples_updated('risk.customers'::regclass)"))
    # Pages keep room (fillfactor 70) and no indexed value changed: all 20 rewrites are HOT.
    assert hot == 20
    # Crossing into another band changes an indexed value: those 5 are ordinary updates.
    assert (hot_after, updated) == (20, 25)
    async with risk_sessions.begin() as session:
        stored = await repository.get(session, "hot-0")
        band = await session.scalar(text("SELECT risk_band FROM risk.customers WHERE customer_id = 'hot-0'"))
    assert stored is not None and stored.risk_score == 0.52 and band == 5
