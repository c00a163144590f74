"""HTTP client of the consent service's batch decision endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from winback_campaign.domain.actions import ConsentDecision, ConsentRequest, ConsentUnavailable

__all__ = ["ConsentClient", "ConsentUnavailable"]


class ConsentClient:
    """Asks `POST /v1/decisions:batch` with `dispatch: true`, right before contacts are made."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 5.0) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/decisions:batch"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def decide(self, requests: Sequence[ConsentRequest]) -> dict[str, ConsentDecision]:
        """Decision per request id; raises ConsentUnavailable when any is missing."""
        if not requests:
            return {}
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        body = {"items": [_item(r) for r in requests]}
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise ConsentUnavailable(f"consent answered {response.status_code}: {response.text[:500]}")
        try:
            return _decisions(requests, response.json())
        except (ValueError, TypeError, KeyError) as exc:
            raise ConsentUnavailable(f"unusable consent answer: {exc}") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _item(request: ConsentRequest) -> dict[str, Any]:
    item: dict[str, Any] = {
        "request_id": request.request_id,
        "customer_id": request.customer_id,
        "channel": request.channel,
        "purpose": "marketing",
        "content": "advertising",
        "dispatch": True,
    }
    if request.offer_category is not None:
        item["offer_category"] = request.offer_category
    if request.caused_by is not None:
        item["caused_by"] = {"source": request.caused_by[0], "id": request.caused_by[1]}
    return item


def _decisions(requests: Sequence[ConsentRequest], payload: Any) -> dict[str, ConsentDecision]:
    items = payload["items"] if isinstance(payload, dict) else payload
    if not isinstance(items, list) or len(items) != len(requests):
        raise ValueError(f"expected {len(requests)} decisions")
    decisions: dict[str, ConsentDecision] = {}
    # Matched by request_id when consent echoes it, by position otherwise (same order as asked).
    for request, item in zip(requests, items, strict=True):
        request_id = item.get("request_id") or request.request_id
        decisions[request_id] = ConsentDecision(
            allowed=bool(item["allowed"]),
            basis=item.get("basis"),
            reason=item.get("reason"),
            evidence_ids=tuple(str(e) for e in item.get("evidence_ids") or ()),
            pending=item.get("pending") is True,
        )
    missing = {r.request_id for r in requests} - decisions.keys()
    if missing:
        raise ValueError(f"no decision for {sorted(missing)[:3]}")
    return decisions
