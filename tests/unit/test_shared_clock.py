"""The adjustable clock lets demos skip weeks but never goes back in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from winback_shared.clock import AdjustableClock, ClockMovedBackwards, FixedClock, SystemClock

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_adjustable_clock_moves_forward_and_keeps_ticking() -> None:
    base = FixedClock(START)
    clock = AdjustableClock(base)
    assert clock.now() == START
    target = START + timedelta(days=30)
    assert clock.advance_to(target) == target
    # The offset stays: time keeps passing from the new moment on.
    base.advance(timedelta(minutes=5))
    assert clock.now() == target + timedelta(minutes=5)


def test_adjustable_clock_refuses_to_move_back() -> None:
    clock = AdjustableClock(FixedClock(START))
    clock.advance_to(START + timedelta(days=2))
    with pytest.raises(ClockMovedBackwards, match="only moves forward"):
        clock.advance_to(START + timedelta(days=1))
    assert clock.now() == START + timedelta(days=2)


def test_moving_to_now_is_allowed() -> None:
    clock = AdjustableClock(FixedClock(START))
    assert clock.advance_to(START) == START


def test_system_clock_is_timezone_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert AdjustableClock().now() >= now
