"""The real system once for all scenarios: broker, PostgreSQL, the five services, the shipped playbooks.

A background population is played first and the model fitted on it, so that the scenario customers
are ranked (value tier, segment) against a base, as they would be in a real shop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.population import background
from tests.support.infra import create_database, kafka_broker
from tests.support.services import running_services
from tests.support.world import World
from winback_cli.stack import ServiceProcess

ALL = ["consent", "risk", "campaign", "metrics", "ingest"]
# Consumers as in production (10 s sessions): a restarted service then waits for its dead
# predecessor's partitions, as after a real crash or a fresh start.
PRODUCTION_CONSUMERS = {
    "WINBACK_CONSUMER_SESSION_TIMEOUT_MS": "10000",
    "WINBACK_CONSUMER_HEARTBEAT_INTERVAL_MS": "3000",
}


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def services(
    broker: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("scenario-logs"))
    with running_services(
        ALL, bootstrap=broker, database_url=create_database(postgres_url), log_dir=logs, extra=PRODUCTION_CONSUMERS
    ) as running:
        yield running


@pytest.fixture(scope="session")
def world(services: dict[str, ServiceProcess], broker: str) -> Iterator[World]:
    """The system with the background population absorbed and the model fitted on it."""
    world = World({name: process.url for name, process in services.items()}, broker)
    try:
        world.play_many(background())
        world.fit_model()
        yield world
    finally:
        world.close()
