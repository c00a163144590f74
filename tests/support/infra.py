"""Real broker and database for tests: testcontainers when Docker answers, embedded otherwise.

A URL in the environment (WINBACK_TEST_KAFKA_BOOTSTRAP, WINBACK_TEST_DATABASE_URL) wins over
both, so a developer's running servers can be reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import asyncpg

from winback_cli.servers import EmbeddedPostgres, TansuBroker, free_port
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics


@cache
def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=1).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def kafka_broker() -> Iterator[str]:
    """A broker with the contract's topics created; yields its bootstrap address."""
    if bootstrap := os.environ.get("WINBACK_TEST_KAFKA_BOOTSTRAP"):
        asyncio.run(ensure_topics(bootstrap, ALL_TOPICS))
        yield bootstrap
    elif docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            bootstrap = kafka.get_bootstrap_server()
            asyncio.run(ensure_topics(bootstrap, ALL_TOPICS))
            yield bootstrap
    else:
        broker = TansuBroker(free_port())
        broker.start()
        try:
            asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS))
            yield broker.bootstrap
        finally:
            broker.stop()


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server; yields an asyncpg URL of its `postgres` database."""
    if url := os.environ.get("WINBACK_TEST_DATABASE_URL"):
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
    elif docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver="asyncpg") as pg:
            yield pg.get_connection_url()
    else:
        # World-traversable parent: PostgreSQL runs as an unprivileged user under root.
        base = Path(tempfile.mkdtemp(prefix="winback-pg-", dir="/tmp"))
        base.chmod(0o755)
        server = EmbeddedPostgres(base / "data", free_port(), throwaway=True)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_database(server_url: str) -> str:
    """A fresh, empty database on the server; returns its asyncpg URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"

    async def _create() -> None:
        conn = await asyncpg.connect(_plain(server_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(_create())
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"
