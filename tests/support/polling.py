"""Waiting for an eventually consistent system without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, timeout_s: float = 30.0, interval_s: float = 0.2
) -> T:
    """Call `probe` until `accept` holds for its result; returns that result or fails with the last one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    result = await probe()
    while not accept(result):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met after {timeout_s}s; last result: {result!r}")
        await asyncio.sleep(interval_s)
        result = await probe()
    return result


async def until(check: Callable[[], Awaitable[T]], *, timeout_s: float = 30.0, interval_s: float = 0.1) -> T:
    """Call `check` until its result is truthy; returns that result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (result := await check()):
        assert loop.time() < deadline, f"condition not met after {timeout_s}s"
        await asyncio.sleep(interval_s)
    return result
