"""A service's database migrated for a test module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from winback_shared.db.engine import create_engine
from winback_shared.db.migrate import upgrade


@contextlib.asynccontextmanager
async def migrated(database_url: str, migrations: str, revision: str = "head") -> AsyncIterator[AsyncEngine]:
    """The database at `revision` of `migrations` (e.g. "winback_campaign:migrations"), and an engine on it.

    A migration's own test starts one revision before it, writes rows as the old code did, then
    upgrades to the head."""
    await asyncio.to_thread(upgrade, database_url, migrations, revision)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
