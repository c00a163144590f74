"""Telling an outage of a dependency (database, broker, peer service) from a bug.

An outage heals by itself, so the client is told to retry (503 with Retry-After); a bug does
not (500). The errors are recognised by the libraries' own classes anywhere in the chain of
causes, since SQLAlchemy wraps asyncpg's errors and services wrap both in their own.
"""

from __future__ import annotations

import asyncpg
import httpx
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class DependencyUnavailable(Exception):
    """Raised (or subclassed) by a service whose dependency cannot answer now: a 503, not a 500."""


_OUTAGES: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    # Refused or reset connections, DNS failures, timeouts of any socket (file errors: below).
    OSError,
    # PostgreSQL: connection lost or refused, server starting or shutting down, no free slot.
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
    # Kafka: no broker, no leader, a request that timed out.
    KafkaConnectionError,
    KafkaTimeoutError,
    # A peer service that cannot be reached.
    httpx.TransportError,
)


# OSErrors that are bugs or broken deployments, not a network: they do not heal by retrying.
_LOCAL_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 16:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` (or anything that caused it) says a dependency is unavailable right now."""
    for cause in _causes(exc):
        if isinstance(cause, _OUTAGES) and not isinstance(cause, _LOCAL_ERRORS):
            return True
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, KafkaError) and getattr(cause, "retriable", False):
            return True
    return False
