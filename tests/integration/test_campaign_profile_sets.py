"""A customer's categories and wishes stay arrays of strings through every profile update (migration 0008).

Found by the simulated business: a profile update without categories stored JSON `null`, the next
merge appended it (`["services", null]`), and the scheduler crashed rendering "what you bought"
on every round that met the customer (251 worker restarts in one `make run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.db import migrated
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.bootstrap import MIGRATIONS
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
