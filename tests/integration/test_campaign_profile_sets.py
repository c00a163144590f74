"""What campaign keeps of a customer: categories and wishes stay arrays of strings (migration 0008), and
the current status is the one risk decided last.

Found by the simulated business: a profile update without categories stored JSON `null`, the next
merge appended it (`["services", null]`), and the scheduler crashed rendering "what you bought"
on every round that met the customer (251 worker restarts in one `make run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.db import migrated
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.bootstrap import MIGRATIONS
from winback_campaign.domain.enrollment import StatusChange
from winback_campaign.service_layer.translate import merged_profiles
from winback_shared.db.engine import create_sessionmaker
from winback_shared.db.migrate import upgrade
from winback_shared.events.inbound import ContractCancelled, CustomerUpserted, OrderPlaced

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated(database_url, MIGRATIONS, revision="0007") as engine:
        yield create_sessionmaker(engine)


async def _sets(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[object, object]]:
    async with sessions() as session:
        rows = await session.execute(text("SELECT customer_id, categories, wishes FROM campaign.customers"))
        return {r.customer_id: (r.categories, r.wishes) for r in rows}


async def test_nulls_stored_before_are_removed_and_updates_keep_strings_only(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # As the old code left them: a JSON null inside the array, and a JSON null for the whole set.
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO campaign.customers (customer_id, updated_at, categories, wishes) VALUES "
                "('old', :t, CAST('[\"services\", null]' AS jsonb), CAST('null' AS jsonb))"
            ),
            {"t": T0},
        )
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
    assert (await _sets(sessions))["old"] == (["services"], None)

    order = OrderPlaced.new(
        source="/shop", time=T0, data={"customer_id": "new", "order_id": "o1", "amount": "10", "category": "garden"}
    )
    profile = CustomerUpserted.new(source="/crm", time=T0, data={"customer_id": "new", "first_name": "Eva"})
    gap = ContractCancelled.new(
        source="/billing",
        time=T0,
        data={"customer_id": "new", "contract_id": "k1", "reason_code": "feature_gap", "reason_text": "no SSO"},
    )
    for batch in ([order], [profile], [gap], [profile]):
        async with sessions.begin() as session:
            await repo.upsert_profiles(session, merged_profiles(batch), T0)

    assert (await _sets(sessions))["new"] == (["garden"], ["no", "sso"])


def _change(to: str, day: int) -> StatusChange:
    at = T0 + timedelta(days=day)
    return StatusChange("late", to, at, winback_eligible=True, source="/winback/risk", event_id=f"{to}-{day}")


async def test_a_churn_at_a_notice_read_late_is_the_current_status_after_a_later_score(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # Risk scored the customer at_risk on day 7, then read the notice of day 5 and churned them at it:
    # the churn is what feature releases and previews must see (they look for churned customers).
    async with sessions.begin() as session:
        await repo.record_statuses(session, [_change("at_risk", 7)], T0)
    async with sessions.begin() as session:
        await repo.record_statuses(session, [_change("churned", 5)], T0)
    async with sessions.begin() as session:
        # In one batch as well, and a score older than the churn never replaces it.
        await repo.record_statuses(session, [_change("lapsed", 6), _change("churned", 5)], T0)
    async with sessions() as session:
        row = (
            await session.execute(text("SELECT status, status_at FROM campaign.customers WHERE customer_id = 'late'"))
        ).one()
    assert (row.status, row.status_at) == ("churned", T0 + timedelta(days=5))
