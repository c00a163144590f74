"""Cheaper array parameters for the bulk statements: timestamps as int8 microseconds, numerics as text.

asyncpg encodes a `timestamptz[]` element in about 1.8 us and a `numeric[]` element in about
1.4 us (per-element datetime arithmetic and Decimal conversion in Python objects), several times
what the rest of a row costs; an `int8[]` element takes about 0.2 us and `str(Decimal)` joined into
one array literal less than 0.3 us. The database turns them back into exactly the same values
(bench/risk/README.md, round 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(values: Iterable[datetime | None]) -> list[int | None]:
    """Aware datetimes as integer microseconds since the Unix epoch (exact, any year)."""
    return [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]


def timestamp_of(column: str) -> str:
    """SQL turning an int8 microsecond column back into the timestamptz `micros` came from.

    Whole seconds and the microsecond remainder separately: both stay exact as float8 (what
    to_timestamp and interval multiplication take) for every year a datetime can hold, where
    the microseconds alone would not beyond 2^53 (about the years 1685 to 2255).
    """
    return f"(to_timestamp({column} / 1000000) + ({column} % 1000000) * interval '1 microsecond')"


def numeric_literal(values: Iterable[Decimal | None]) -> str:
    """A PostgreSQL array literal of the numbers (cast it with CAST(CAST(:p AS text) AS numeric[]))."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
