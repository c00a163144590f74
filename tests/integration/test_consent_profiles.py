"""Consent's profile merge ("later values win per field") through the consumer's bulk statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.db import migrated
from winback_consent.adapters.tables import customers
from winback_consent.bootstrap import MIGRATIONS
from winback_consent.domain.contacts import hash_value
from winback_consent.service_layer.consume import apply_events
from winback_shared.clock import FixedClock
from winback_shared.db.engine import create_sessionmaker
from winback_shared.events.inbound import CustomerUpserted

pytestmark = pytest.mark.integration

KEY = b"profile-test-key"
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated(database_url, MIGRATIONS) as engine:
        yield create_sessionmaker(engine)


def profile(customer_id: str, days: int, **data: Any) -> CustomerUpserted:
    return CustomerUpserted.new(
        source="/crm", time=T0 + timedelta(days=days), data={"customer_id": customer_id, **data}
    )


async def row_of(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> Any:
    async with sessions() as session:
        return (await session.execute(select(customers).where(customers.c.customer_id == customer_id))).one()


async def test_later_values_win_and_older_ones_only_fill_gaps_within_one_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # Three updates of one customer in one batch, out of time order: each must apply in turn.
    batch = [
        profile("p-1", 5, email="new@example.org", phone="+49 30 1111111"),
        profile("p-1", 1, email="old@example.org", fax="+49 30 2222222"),
        profile("p-1", 9, phone="+49 30 3333333", kind="business"),
        profile("p-2", 2, email="other@example.org"),
    ]
    await apply_events(sessions, CLOCK, batch, KEY)

    row = await row_of(sessions, "p-1")
    assert row.email == "new@example.org"  # the older event does not overwrite a newer value
    assert row.fax == "+49 30 2222222"  # ...but fills a field still empty
    assert row.phone == "+49 30 3333333"  # the newest value wins
    assert row.kind == "business"
    assert row.profile_at == T0 + timedelta(days=9)
    assert row.email_hash == hash_value(KEY, "email", "new@example.org")
    assert row.phone_hash == hash_value(KEY, "phone", "+49 30 3333333")
    assert row.fax_hash == hash_value(KEY, "phone", "+49 30 2222222")
    assert (await row_of(sessions, "p-2")).email == "other@example.org"


async def test_a_late_event_in_a_later_batch_keeps_the_newer_values(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await apply_events(sessions, CLOCK, [profile("p-3", 10, email="current@example.org")], KEY)
    address = {"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin"}
    late = profile("p-3", 3, email="stale@example.org", postal_address=address)
    await apply_events(sessions, CLOCK, [late], KEY)

    row = await row_of(sessions, "p-3")
    assert row.email == "current@example.org"
    assert row.email_hash == hash_value(KEY, "email", "current@example.org")
    assert row.postal_address == address
    assert row.postal_hash == hash_value(KEY, "postal", address)
    assert row.profile_at == T0 + timedelta(days=10)
