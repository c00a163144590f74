"""A fit stored by one process reaches the consumers of every other process (ModelHolder refresh)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_cli.stack import ServiceSpec, migrate, service_env
from winback_risk.adapters import facts_repository
from winback_risk.domain.model.population import PRIOR
from winback_risk.service_layer.model_service import ModelHolder
from winback_shared.db.engine import create_engine, create_sessionmaker

pytestmark = pytest.mark.integration

FITTED = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    migrate(ServiceSpec("risk", 0), service_env(bootstrap="127.0.0.1:1", database_url=database_url, port=0))
    engine = create_engine(database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def store(sessions: async_sessionmaker[AsyncSession], fitted_at: datetime, customers: int) -> None:
    async with sessions.begin() as session:
        await facts_repository.save_model(session, replace(PRIOR, fitted_at=fitted_at, customers_used=customers))


async def test_a_refreshing_holder_takes_newer_fits_and_keeps_its_own_newer_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    once, refreshing = ModelHolder(), ModelHolder(refresh_s=0.0)
    assert (await once.get(sessions)).fitted_at is None  # nothing stored yet: the prior
    assert (await refreshing.get(sessions)).fitted_at is None

    await store(sessions, FITTED, 100)
    assert (await refreshing.get(sessions)).customers_used == 100
    # Without a refresh interval the holder reads the database once, as before.
    assert (await once.get(sessions)).fitted_at is None

    # A fit this process made itself and has not stored yet is not replaced by an older one.
    refreshing.current = replace(PRIOR, fitted_at=FITTED + timedelta(days=2), customers_used=300)
    await store(sessions, FITTED + timedelta(days=1), 200)
    assert (await refreshing.get(sessions)).customers_used == 300
    await store(sessions, FITTED + timedelta(days=3), 400)
    assert (await refreshing.get(sessions)).customers_used == 400
