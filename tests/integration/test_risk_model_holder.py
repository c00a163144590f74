"""A fit stored by one process reaches the consumers of every other process (ModelHolder refresh)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import facts_repository
from winback_risk.domain.model.population import PRIOR
from winback_risk.service_layer.model_service import ModelHolder

pytestmark = pytest.mark.integration

FITTED = datetime(2025, 6, 1, tzinfo=UTC)


async def store(risk_sessions: async_sessionmaker[AsyncSession], fitted_at: datetime, customers: int) -> None:
    async with risk_sessions.begin() as session:
        await facts_repository.save_model(session, replace(PRIOR, fitted_at=fitted_at, customers_used=customers))


async def test_a_refreshing_holder_takes_newer_fits_and_keeps_its_own_newer_one(
    risk_sessions: async_sessionmaker[AsyncSession],
) -> None:
    once, refreshing = ModelHolder(), ModelHolder(refresh_s=0.0)
    assert (await once.get(risk_sessions)).fitted_at is None  # nothing stored yet: the prior
    assert (await refreshing.get(risk_sessions)).fitted_at is None

    await store(risk_sessions, FITTED, 100)
    assert (await refreshing.get(risk_sessions)).customers_used == 100
    # Without a refresh interval the holder reads the database once, as before.
    assert (await once.get(risk_sessions)).fitted_at is None

    # A fit this process made itself and has not stored yet is not replaced by an older one.
    refreshing.current = replace(PRIOR, fitted_at=FITTED + timedelta(days=2), customers_used=300)
    await store(risk_sessions, FITTED + timedelta(days=1), 200)
    assert (await refreshing.get(risk_sessions)).customers_used == 300
    await store(risk_sessions, FITTED + timedelta(days=3), 400)
    assert (await refreshing.get(risk_sessions)).customers_used == 400
