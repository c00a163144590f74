"""The customer's German state reaches quiet hours: stored from the profile, back-filled by migration 0005."""

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
from winback_shared.events.inbound import CustomerUpserted

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated(database_url, MIGRATIONS, revision="0003") as engine:
        yield create_sessionmaker(engine)


async def test_stored_addresses_are_backfilled_and_new_profiles_carry_their_state(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO campaign.customers (customer_id, updated_at, postal_address) VALUES "
                "('dresden', :t, CAST(:a AS jsonb)), ('vienna', :t, CAST(:b AS jsonb))"
            ),
            {
                "t": T0,
                "a": '{"postal_code": "01067", "city": "Dresden"}',
                "b": '{"postal_code": "1010", "country": "AT"}',
            },
        )
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS)

    events = [
        CustomerUpserted.new(
            source="/crm", time=T0, data={"customer_id": "munich", "postal_address": {"postal_code": "80331"}}
        ),
        CustomerUpserted.new(
            source="/crm",
            time=T0,
            data={
                "customer_id": "given",
                "postal_address": {"postal_code": "80331"},
                "attributes": {"state": "DE-HH"},
            },
        ),
    ]
    async with sessions.begin() as session:
        await repo.upsert_profiles(session, merged_profiles(events), T0)
        facts = await repo.customer_facts(session, ["dresden", "vienna", "munich", "given"])
    assert {cid: f["state"] for cid, f in facts.items()} == {
        "dresden": "SN",
        "vienna": None,
        "munich": "BY",
        "given": "HH",
    }
