"""Injected time: every service reads 'now' from one clock object, never ad hoc."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ClockMovedBackwards(ValueError):
    """Raised when someone asks an adjustable clock to go back in time."""


class AdjustableClock:
    """Wall-clock time plus an offset that may only grow, so demos can let weeks pass.

    Schedulers compare due times against `now()`, so moving the clock forward makes
    everything that became due happen at once; moving it back could replay effects, which
    is why it is refused.
    """

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def advance_to(self, moment: datetime) -> datetime:
        with self._lock:
            current = self.now()
            if moment < current:
                raise ClockMovedBackwards(
                    f"clock only moves forward: {moment.isoformat()} is before {current.isoformat()}"
                )
            self._offset += moment - current
            return self.now()


class FixedClock:
    """A clock that stands still until moved; for unit tests of time-dependent rules."""

    def __init__(self, moment: datetime) -> None:
        self._moment = moment

    def now(self) -> datetime:
        return self._moment

    def advance(self, delta: timedelta) -> None:
        self._moment += delta
