"""Fixtures of the integration tests: one service's database, or one service running as a process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.services import running_services
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
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


@pytest.fixture(scope="module")
def ingest(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """Ingest migrated and running as its own process for the module."""
    logs = tmp_path_factory.mktemp("ingest")
    with running_services(["ingest"], bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as s:
        yield s["ingest"]


@pytest.fixture(scope="module")
def metrics(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Metrics migrated and running as its own process for the module; its base URL."""
    logs = tmp_path_factory.mktemp("metrics")
    with running_services(["metrics"], bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as s:
        yield s["metrics"].url
