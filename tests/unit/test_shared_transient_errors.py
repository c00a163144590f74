"""A deadlock or serialization failure is PostgreSQL asking for the transaction again: retried, not a crash."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from winback_shared.kafka.consumer import is_transient


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class _Adapted(Exception):
    """As SQLAlchemy's asyncpg adapter wraps the driver's exception (the SQLSTATE on its cause)."""


def _wrapped(sqlstate: str) -> DBAPIError:
    adapted = _Adapted("wrapped")
    adapted.__cause__ = _DriverError(sqlstate)
    return DBAPIError("UPDATE ...", {}, adapted)


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_deadlock_and_serialization_failure_are_retried(sqlstate: str) -> None:
    assert is_transient(_wrapped(sqlstate)) is True
    assert is_transient(DBAPIError("UPDATE ...", {}, _DriverError(sqlstate))) is True


def test_a_constraint_violation_is_no_transient_error() -> None:
    assert is_transient(_wrapped("23505")) is False
