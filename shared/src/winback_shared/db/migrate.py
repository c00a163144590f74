"""Alembic per service: each service migrates its own schema, serialised by an advisory lock."""

from __future__ import annotations

import asyncio
import zlib

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, pool, text
from sqlalchemy.ext.asyncio import create_async_engine


def upgrade(database_url: str, script_location: str, revision: str = "head") -> None:
    """Bring the service's schema to `revision`; `script_location` is 'package:migrations'."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, revision)


def run_env(schema: str) -> None:
    """Body of a service's `migrations/env.py` (online mode only: migrations need a database)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "sqlalchemy.url must be set"
    asyncio.run(_run_async(url, schema))


async def _run_async(url: str, schema: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            lock = zlib.crc32(f"migrate:{schema}".encode()) & 0x7FFFFFFF
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.commit()
            try:
                await conn.run_sync(_run_sync, schema)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
                await conn.commit()
    finally:
        await engine.dispose()


def _run_sync(connection: Connection, schema: str) -> None:
    context.configure(connection=connection, version_table_schema=schema, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
