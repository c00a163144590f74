"""The churn cohort: its period from `from`/`to` (RFC 3339 date or date-time) and its filters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_PLUS_AS_SPACE = re.compile(r"(?<=\d) (\d{2}:\d{2})$")


class InvalidPeriod(ValueError):
    """A `from`/`to` value that is not an RFC 3339 date or date-time, or an empty period."""


@dataclass(frozen=True, slots=True)
class Period:
    """Half-open `[start, end)`; None means unbounded on that side."""

    start: datetime | None
    end: datetime | None


def _parse(name: str, raw: str, *, is_end: bool) -> datetime:
    # An unencoded '+' in a query string arrives as a space: accept "...T10:00:00 01:00".
    value = _PLUS_AS_SPACE.sub(r"+\1", raw.strip())
    try:
        if _DATE.match(value):
            # A date means the whole day (UTC): `to=2024-03-31` includes March 31st.
            moment = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
            return moment + timedelta(days=1) if is_end else moment
        if _DATE_TIME.match(value):
            return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:  # well-formed but impossible, e.g. 2024-02-30
        raise InvalidPeriod(f"{name}: {raw!r} is not a valid date: {exc}") from exc
    raise InvalidPeriod(f"{name}: {raw!r} is not an RFC 3339 date (2024-01-31) or date-time (2024-01-31T00:00:00Z)")


def parse_period(start: str | None, end: str | None) -> Period:
    period = Period(
        _parse("from", start, is_end=False) if start else None,
        _parse("to", end, is_end=True) if end else None,
    )
    if period.start is not None and period.end is not None and period.start >= period.end:
        raise InvalidPeriod(f"from ({start}) must be before to ({end})")
    return period


@dataclass(frozen=True, slots=True)
class CohortFilter:
    """Which churn episodes and which of their actions a KPI answer covers.

    `playbook_id`, `channel` and `variant` narrow the cohort to episodes with a matching
    action (triggered or suppressed) or, without a channel, a matching enrolment, and narrow
    the counted actions and costs to the matching ones.
    """

    period: Period
    playbook_id: str | None = None
    channel: str | None = None
    variant: str | None = None
    segment: str | None = None
    value_tier: str | None = None

    @property
    def narrows_actions(self) -> bool:
        return any(v is not None for v in (self.playbook_id, self.channel, self.variant))
