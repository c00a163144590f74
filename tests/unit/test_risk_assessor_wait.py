"""The assessor waits for the consumers to catch up without spinning on its wake-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from winback_risk.service_layer import assessor as assessor_module
from winback_risk.service_layer.assessor import CAUGHT_UP_POLL_S, Assessor
from winback_shared.clock import FixedClock


async def test_a_woken_assessor_polls_while_the_consumers_catch_up(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = asyncio.Event()
    waits: list[tuple[tuple[asyncio.Event, ...], float]] = []
    runs: list[datetime] = []
    caught_up = [False, False, False, True]

    async def recorded_wait(*events: asyncio.Event, seconds: float) -> None:
        waits.append((events, seconds))
        if runs:
            stop.set()

    async def run_once(now: datetime) -> int:
        runs.append(now)
        return 0

    monkeypatch.setattr(assessor_module, "wait_any", recorded_wait)
    clock = FixedClock(datetime(2025, 1, 1, tzinfo=UTC))
    assessor = Assessor(run_once, clock, 900.0, caught_up=lambda: caught_up.pop(0))
    assessor.wake()
    await assessor.run(stop)
    # Three short polls on the stop event alone (the set wake-up would return at once), then one run.
    assert waits[:3] == [((stop,), CAUGHT_UP_POLL_S)] * 3
    assert len(runs) == 1
