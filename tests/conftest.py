"""Fixtures shared by every test package: real servers are started once and reused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.infra import create_database, kafka_broker, postgres_server

# No wall-clock limit per Hypothesis example in any property test: on a loaded two-core CI machine a
# paused example would fail the test as "flaky" whatever its answer. A test may still set its own.
settings.register_profile("winback", deadline=None)
settings.load_profile("winback")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a running PostgreSQL server's maintenance database."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[str]:
    """A broker of the module's own: services read topics from the start, so no cross-talk."""
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    """A fresh database for the module."""
    return create_database(postgres_url)
