"""A service's database migrated for a test module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from winback_shared.db.engine import create_engine
from winback_shared.db.migrate import upgrade


@contextlib.asynccontextmanager
async def migrated(database_url: str, migrations: str) -> AsyncIterator[AsyncEngine]:
    """The database at the head of `migrations` (e.g. "winback_campaign:migrations"), and an engine on it."""
    await asyncio.to_thread(upgrade, database_url, migrations)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
