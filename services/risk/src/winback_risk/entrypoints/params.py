"""Parsing of query parameters the API shares between its routes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from winback_shared.validation import time_problem

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# An unencoded "+" of an offset arrives as a space in a query string.
_SPACED_OFFSET = re.compile(r"(T\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$", re.IGNORECASE)


class InvalidAsOf(ValueError):
    """`as_of` is neither an RFC 3339 date nor an RFC 3339 date-time with offset."""


# The longest horizon a query may ask for after `as_of` (see Horizon in http.py).
MAX_HORIZON = timedelta(days=3650)


def parse_as_of(raw: str | None, now: datetime) -> datetime:
    """`as_of` as an aware datetime; default `now`.

    A date means the end of that day in UTC, so the events of that day count ("as of May 1"
    includes May 1). A date-time must carry its offset, as RFC 3339 requires.
    """
    if raw is None:
        return now
    moment = _parse(raw)
    # The shared time rule (years 1-9999 in UTC), with room for the horizon and look-back windows
    # around it: otherwise the scoring overflows instead.
    problem = time_problem(moment)
    if problem is None:
        try:
            moment.astimezone(UTC) - MAX_HORIZON, moment.astimezone(UTC) + MAX_HORIZON
        except OverflowError:
            problem = f"lies within {MAX_HORIZON.days} days of year 1 or year 10000"
    if problem is not None:
        raise InvalidAsOf(f"as_of {raw!r} {problem}")
    return moment


def _parse(raw: str) -> datetime:
    value = _SPACED_OFFSET.sub(r"\1+\2", raw.strip())
    try:
        if _DATE.match(value):
            day = datetime.strptime(value, "%Y-%m-%d").date()
            return datetime.combine(day, time.max, tzinfo=UTC)
        if _DATETIME.match(value):
            # fromisoformat takes at most microseconds; cut longer fractions.
            value = re.sub(r"(\.\d{6})\d+", r"\1", value[:10] + "T" + value[11:])
            return datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    except ValueError as exc:
        raise InvalidAsOf(f"as_of {raw!r} is not a valid RFC 3339 date or date-time: {exc}") from exc
    raise InvalidAsOf(
        f"as_of {raw!r} is not an RFC 3339 date (2024-05-01) or date-time with offset (2024-05-01T12:00:00Z)"
    )
