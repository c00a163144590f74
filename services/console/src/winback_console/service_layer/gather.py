"""Many calls at once, bounded, with a 404 read as "not known there"."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from winback_console.adapters.services import ServiceGateway, ServiceRefused

T = TypeVar("T")
# Enough to hide latency, few enough not to crowd a service's connection pool.
PARALLEL = 8


async def bounded(calls: Iterable[Callable[[], Awaitable[T]]], limit: int = PARALLEL) -> list[T]:
    """Run the calls with at most `limit` in flight; results in the calls' order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def optional(gateway: ServiceGateway, service: str, path: str, *, key: str, params: Any = None) -> Any:
    """The answer, or None when the service does not know the resource (404)."""
    try:
        return await gateway.get(service, path, key=key, params=params)
    except ServiceRefused as exc:
        if exc.status == 404:
            return None
        raise
