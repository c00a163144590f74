"""When a contact may happen: quiet hours with German public holidays (by state), and the frequency cap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_TIME_ZONE = "Europe/Berlin"
# Channels that reach a person in real time: only within quiet-hour rules.
QUIET_HOUR_CHANNELS = frozenset({"phone", "sms"})
DAY_START, DAY_END = time(9, 0), time(20, 0)


@cache
def public_holidays(year: int, state: str | None = None) -> frozenset[date]:
    """Germany's public holidays of `year`: the nationwide ones, plus the state's own when it is known."""
    return frozenset(holidays.country_holidays("DE", subdiv=state, years=year).keys())


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _working_day(day: date, state: str | None) -> bool:
    return day.weekday() != 6 and day not in public_holidays(day.year, state)


def next_quiet_hours_slot(at: datetime, time_zone: str | None = None, state: str | None = None) -> datetime:
    """`at` itself when it is Mon-Sat 09:00-20:00 local and no public holiday in `state`, else the next such moment.

    `state` is the customer's German state (`domain/regions.py`); None keeps the nationwide holidays only.
    """
    zone = _zone(time_zone)
    local = at.astimezone(zone)
    if _working_day(local.date(), state) and DAY_START <= local.time() < DAY_END:
        return at
    day = local.date() if local.time() < DAY_START else local.date() + timedelta(days=1)
    while not _working_day(day, state):
        day += timedelta(days=1)
    return datetime.combine(day, DAY_START, tzinfo=zone).astimezone(at.tzinfo)


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most `per_week` advertising contacts in 7 days and `per_month` in 30 days, across playbooks."""

    per_week: int = 1
    per_month: int = 3

    def earliest(self, now: datetime, contacts: Sequence[datetime]) -> datetime:
        """The earliest moment >= now at which one more contact stays within both limits."""
        candidate = now
        for window, limit in ((timedelta(days=7), self.per_week), (timedelta(days=30), self.per_month)):
            recent = sorted(c for c in contacts if c > candidate - window)
            if len(recent) >= limit:
                # Wait until enough of the recent contacts have left the window.
                candidate = max(candidate, recent[len(recent) - limit] + window)
        return candidate


def allowed_at(
    now: datetime,
    channel: str,
    contacts: Sequence[datetime],
    cap: FrequencyCap,
    time_zone: str | None,
    state: str | None = None,
) -> tuple[datetime, str | None]:
    """When the step may run, and why it must wait (None: now)."""
    at = cap.earliest(now, contacts)
    reason = "frequency_cap" if at > now else None
    if channel in QUIET_HOUR_CHANNELS:
        slot = next_quiet_hours_slot(at, time_zone, state)
        if slot > at:
            at, reason = slot, reason or "quiet_hours"
    return at, reason
