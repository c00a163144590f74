"""Customer search, the customer page (one timeline from three services), GDPR export and erasure."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from winback_console.adapters.services import ServiceGateway
from winback_console.domain.timeline import ledger_items, merge
from winback_console.service_layer.gather import optional

TIMELINE_LIMIT = 200


def _id(customer_id: str) -> str:
    return quote(customer_id, safe="")


async def search(gateway: ServiceGateway, key: str, q: str) -> list[dict[str, Any]]:
    """Profiles whose id starts with, or whose name or e-mail contains, `q` (campaign's search)."""
    answer = await gateway.get("campaign", "/v1/customers", key=key, params={"q": q, "limit": 50})
    items: list[dict[str, Any]] = answer["items"]
    return items


async def customer_page(gateway: ServiceGateway, key: str, customer_id: str, verify: bool) -> dict[str, Any]:
    """What each service knows about one customer, and the merged timeline; None parts are unknown there."""
    cid = _id(customer_id)
    page = {"limit": TIMELINE_LIMIT}
    risk, risk_timeline, campaign_timeline, enrollments, consents, ledger_check = await asyncio.gather(
        optional(gateway, "risk", f"/v1/customers/{cid}", key=key),
        optional(gateway, "risk", f"/v1/customers/{cid}/timeline", key=key, params=page),
        optional(gateway, "campaign", f"/v1/customers/{cid}/timeline", key=key, params=page),
        optional(gateway, "campaign", f"/v1/customers/{cid}/enrollments", key=key),
        optional(gateway, "consent", f"/v1/customers/{cid}/consents", key=key),
        optional(gateway, "consent", f"/v1/customers/{cid}/ledger/verify", key=key) if verify else _none(),
    )
    timeline = merge(
        {
            "risk": (risk_timeline or {}).get("items", []),
            "campaign": (campaign_timeline or {}).get("items", []),
            "consent": ledger_items((consents or {}).get("ledger", [])),
        }
    )
    profile = await _profile(gateway, key, customer_id)
    return {
        "customer_id": customer_id,
        "profile": profile,
        "risk": risk,
        "consents": consents,
        "enrollments": (enrollments or {}).get("items", []),
        "timeline": timeline,
        "ledger_check": ledger_check,
        "known": any(x for x in (risk, consents, profile, timeline)),
    }


async def _none() -> None:
    return None


async def _profile(gateway: ServiceGateway, key: str, customer_id: str) -> dict[str, Any] | None:
    """Campaign's profile (name, e-mail) of exactly this id, if it keeps one."""
    for item in await search(gateway, key, customer_id[:128]):
        if item.get("customer_id") == customer_id:
            return item
    return None


async def export(gateway: ServiceGateway, key: str, customer_id: str) -> dict[str, Any]:
    """GDPR Art. 15/20: everything the services keep about the customer, each part from its owner."""
    cid = _id(customer_id)
    risk, risk_timeline, campaign_timeline, enrollments, consents = await asyncio.gather(
        optional(gateway, "risk", f"/v1/customers/{cid}", key=key),
        _all_pages(gateway, key, "risk", f"/v1/customers/{cid}/timeline"),
        _all_pages(gateway, key, "campaign", f"/v1/customers/{cid}/timeline"),
        optional(gateway, "campaign", f"/v1/customers/{cid}/enrollments", key=key),
        optional(gateway, "consent", f"/v1/customers/{cid}/consents", key=key),
    )
    return {
        "customer_id": customer_id,
        "profile": await _profile(gateway, key, customer_id),
        "risk": {"customer": risk, "timeline": risk_timeline},
        "campaign": {"timeline": campaign_timeline, "enrollments": (enrollments or {}).get("items", [])},
        "consent": consents,
    }


async def _all_pages(gateway: ServiceGateway, key: str, service: str, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before = None
    while True:
        answer = await optional(gateway, service, path, key=key, params={"limit": 500, "before": before})
        if not answer:
            return items
        items += answer.get("items", [])
        before = answer.get("next_before")
        if not before:
            return items


async def erase(gateway: ServiceGateway, key: str, customer_id: str) -> None:
    """GDPR Art. 17 through consent (admin): it erases and tells every other service by event."""
    await gateway.call("consent", "DELETE", f"/v1/customers/{_id(customer_id)}", key=key)
