"""Small asyncio helpers for the services' background workers."""

from __future__ import annotations

import asyncio


async def wait_any(*events: asyncio.Event, seconds: float) -> None:
    """Return when any of the events is set or the timeout passed, whichever comes first.

    Workers sleep on their wake-up event *and* the stop event, so a SIGTERM never waits out a
    poll interval.
    """
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
