"""The cheaper array encodings of risk's bulk statements (the database side: tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from winback_risk.adapters.arrays import micros, numeric_literal


def test_micros_count_exact_microseconds_from_the_epoch_in_any_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    values = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, 2, 0, 0, 1, tzinfo=plus_two),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        None,
    ]
    assert micros(values) == [0, 1, -1, 253_402_300_799_999_999, None]


def test_numeric_literal_keeps_every_digit_and_nulls() -> None:
    values = [Decimal("12.340000"), Decimal("-0.000001"), Decimal("1E+3"), None]
    assert numeric_literal(values) == "{12.340000,-0.000001,1E+3,NULL}"
    assert numeric_literal([]) == "{}"
