"""Hash scheme 2 (email-validator, phonenumbers): listings made under scheme 1 keep matching.

Migration 0005 re-hashes the stored profiles and carries their listings over; the consumer carries a
listing over when a raw value is seen later (e.g. a re-imported address of an erased customer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import repository
from winback_consent.bootstrap import MIGRATIONS
from winback_consent.domain.contacts import hash_value, keyed_hash, legacy_hash
from winback_consent.domain.decisions import decide
from winback_consent.domain.legacy_contacts import legacy_phone
from winback_consent.domain.model import DecisionRequest, Policy
from winback_consent.service_layer.consume import apply_events
from winback_shared.clock import FixedClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.events.inbound import CustomerUpserted

pytestmark = pytest.mark.integration

KEY = b"rehash-test-key-16+"
T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
LISTED = T0 - timedelta(days=100)
# Spellings the two schemes read differently: scheme 1 kept the trunk 0 after the country code
# (+490301234567), and kept an IDNA domain in its ASCII form.
PHONE = "+49 030 1234567"
EMAIL = "Anna@xn--bcher-kva.de"


def _migrate(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["consent_hash_key"] = KEY
    command.upgrade(config, revision)


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(_migrate, database_url, "0003")
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _execute(sessions: async_sessionmaker[AsyncSession], sql: str, params: dict[str, Any]) -> None:
    async with sessions.begin() as session:
        await session.execute(text(sql), params)


async def _suppressed(sessions: async_sessionmaker[AsyncSession], customer_id: str, channel: str) -> bool:
    async with sessions() as session:
        snapshot = (await repository.load_snapshots(session, [customer_id]))[customer_id]
    decision = decide(snapshot, DecisionRequest(customer_id, channel, T0), Policy())
    return not decision.allowed and decision.reason == "suppressed"


def test_the_schemes_differ_for_these_spellings_and_agree_for_ordinary_ones() -> None:
    assert legacy_phone(PHONE) == "+490301234567"
    assert legacy_hash(KEY, "phone", PHONE) != hash_value(KEY, "phone", PHONE)
    assert legacy_hash(KEY, "email", EMAIL) != hash_value(KEY, "email", EMAIL)
    assert hash_value(KEY, "email", EMAIL) == keyed_hash(KEY, "email", "anna@bücher.de")
    assert legacy_hash(KEY, "phone", "030 1234567") == hash_value(KEY, "phone", "030 1234567")
    assert legacy_hash(KEY, "email", " A@Example.org") == hash_value(KEY, "email", "a@example.org")


async def test_migration_0005_rehashes_profiles_and_carries_their_listings_over(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # A profile and blocking-list entries as scheme 1 stored them, before 0005.
    await _execute(
        sessions,
        "INSERT INTO consent.customers (customer_id, kind, email, phone, known_since, email_hash, phone_hash) "
        "VALUES ('old-1', 'consumer', :email, :phone, :t, :eh, :ph)",
        {
            "email": EMAIL,
            "phone": PHONE,
            "t": T0 - timedelta(days=400),
            "eh": legacy_hash(KEY, "email", EMAIL),
            "ph": legacy_hash(KEY, "phone", PHONE),
        },
    )
    await _execute(
        sessions,
        "INSERT INTO consent.suppressions (digest, kind, source, list_name, listed_at) VALUES "
        "(:p, 'phone', 'import', 'robinson', :t), (:e, 'email', 'import', 'robinson', :t)",
        {"p": legacy_hash(KEY, "phone", PHONE), "e": legacy_hash(KEY, "email", EMAIL), "t": LISTED},
    )
    await _execute(sessions, "SELECT consent.refresh_snapshots(ARRAY['old-1'])", {})
    assert await _suppressed(sessions, "old-1", "phone")

    await asyncio.to_thread(_migrate, database_url, "head")

    async with sessions() as session:
        row = (await session.execute(text("SELECT * FROM consent.customers WHERE customer_id = 'old-1'"))).one()
        carried = (
            await session.execute(
                text("SELECT kind, source, list_name, listed_at FROM consent.suppressions WHERE digest = :d"),
                {"d": hash_value(KEY, "phone", PHONE)},
            )
        ).one()
    assert (row.email_hash, row.phone_hash) == (hash_value(KEY, "email", EMAIL), hash_value(KEY, "phone", PHONE))
    assert tuple(carried) == ("phone", "import", "robinson", LISTED)
    for channel in ("phone", "sms", "email"):
        assert await _suppressed(sessions, "old-1", channel), channel


async def test_a_value_seen_after_the_migration_carries_its_old_listing_over(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # An erased customer's number, listed under scheme 1; the number comes back under a new id.
    number = "+49 040 7654321"
    assert legacy_hash(KEY, "phone", number) != hash_value(KEY, "phone", number)
    await _execute(
        sessions,
        "INSERT INTO consent.suppressions (digest, kind, source, listed_at) VALUES (:d, 'phone', 'erasure', :t)",
        {"d": legacy_hash(KEY, "phone", number), "t": LISTED},
    )
    event = CustomerUpserted.new(source="/crm", time=T0, data={"customer_id": "new-1", "phone": number})
    await apply_events(sessions, FixedClock(T0), [event], KEY)
    assert await _suppressed(sessions, "new-1", "phone")
    assert not await _suppressed(sessions, "new-1", "email")
