"""Fixtures of the integration tests that talk to one service's database directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_cli.stack import ServiceSpec, migrate, service_env
from winback_shared.db.engine import create_engine, create_sessionmaker


@pytest.fixture(scope="module")
def risk_database(database_url: str) -> str:
    """The module's database with risk's schema migrated."""
    migrate(ServiceSpec("risk", 0), service_env(bootstrap="127.0.0.1:1", database_url=database_url, port=0))
    return database_url


@pytest.fixture
async def risk_sessions(risk_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(risk_database)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
