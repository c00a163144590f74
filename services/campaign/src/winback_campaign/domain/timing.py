"""When a contact may happen: quiet hours with German public holidays, and the frequency cap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "Europe/Berlin"
# Channels that reach a person in real time: only within quiet-hour rules.
QUIET_HOUR_CHANNELS = frozenset({"phone", "sms"})
DAY_START, DAY_END = time(9, 0), time(20, 0)


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def german_public_holidays(year: int) -> frozenset[date]:
    """The nationwide public holidays of Germany (regional ones are not included)."""
    easter = easter_sunday(year)
    fixed = {date(year, 1, 1), date(year, 5, 1), date(year, 10, 3), date(year, 12, 25), date(year, 12, 26)}
    movable = {easter + timedelta(days=n) for n in (-2, 1, 39, 50)}  # Good Friday .. Whit Monday
    return frozenset(fixed | movable)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _working_day(day: date) -> bool:
    return day.weekday() != 6 and day not in german_public_holidays(day.year)


def next_quiet_hours_slot(at: datetime, time_zone: str | None = None) -> datetime:
    """`at` itself when it is Mon-Sat 09:00-20:00 local and no public holiday, else the next such moment."""
    zone = _zone(time_zone)
    local = at.astimezone(zone)
    if _working_day(local.date()) and DAY_START <= local.time() < DAY_END:
        return at
    day = local.date() if local.time() < DAY_START else local.date() + timedelta(days=1)
    while not _working_day(day):
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
    now: datetime, channel: str, contacts: Sequence[datetime], cap: FrequencyCap, time_zone: str | None
) -> tuple[datetime, str | None]:
    """When the step may run, and why it must wait (None: now)."""
    at = cap.earliest(now, contacts)
    reason = "frequency_cap" if at > now else None
    if channel in QUIET_HOUR_CHANNELS:
        slot = next_quiet_hours_slot(at, time_zone)
        if slot > at:
            at, reason = slot, reason or "quiet_hours"
    return at, reason
