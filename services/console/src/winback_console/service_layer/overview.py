"""The /segments and /results pages' data."""

from __future__ import annotations

import asyncio
from typing import Any

from winback_console.adapters.services import ServiceGateway

LIST_LIMIT = 50


async def segments(gateway: ServiceGateway, key: str) -> dict[str, Any]:
    """Risk's quadrants with counts and value, the at-risk list by risk x value, the lapsed by own rhythm."""
    answer: dict[str, Any] = await gateway.get("risk", "/v1/segments", key=key, params={"limit": LIST_LIMIT})
    return answer


async def results(gateway: ServiceGateway, key: str) -> dict[str, Any]:
    """Metrics' KPIs and funnel, as its dashboard shows them."""
    kpis, funnel = await asyncio.gather(
        gateway.get("metrics", "/v1/kpis", key=key), gateway.get("metrics", "/v1/funnel", key=key)
    )
    return {"kpis": kpis, "funnel": funnel}
