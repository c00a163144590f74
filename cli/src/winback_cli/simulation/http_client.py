"""The running stack over HTTP: ingest batches, every service's clock, and reads of the answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

# Ingest takes up to 1,000 events per request (spec/apis.md).
MAX_BATCH = 1_000
RETRYABLE = (429, 502, 503, 504)


class StackUnavailable(RuntimeError):
    """A service kept refusing (or could not be reached) past the retries."""


@dataclass(frozen=True)
class StackAddress:
    """Where the services answer and with which keys (as `winback import` takes them)."""

    urls: Mapping[str, str]
    ingest_key: str
    admin_key: str
    bootstrap: str


class StackClient:
    """Async HTTP to the five services; retries 503 (Retry-After) and transport errors."""

    def __init__(self, address: StackAddress, *, retries: int = 30, timeout_s: float = 60.0) -> None:
        self.address = address
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._retries = retries
        self._admin = {"Authorization": f"Bearer {address.admin_key}"}

    async def close(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self._retries + 1):
            try:
                response = await self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise StackUnavailable(f"{method} {url}: {exc!r}") from exc
                await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
                continue
            if response.status_code not in RETRYABLE or attempt == self._retries:
                return response
            retry_after = response.headers.get("Retry-After", "")
            await asyncio.sleep(float(retry_after) if retry_after.isdigit() else min(0.25 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    async def post_events(self, events: list[dict[str, Any]]) -> tuple[int, int]:
        """Send events in order, in batches of up to 1,000; returns (accepted, duplicates)."""
        accepted = duplicates = 0
        headers = {
            "Authorization": f"Bearer {self.address.ingest_key}",
            "Content-Type": "application/cloudevents-batch+json",
        }
        for i in range(0, len(events), MAX_BATCH):
            body = json.dumps(events[i : i + MAX_BATCH])
            response = await self._request(
                "POST", f"{self.address.urls['ingest']}/v1/events", content=body, headers=headers
            )
            if response.status_code != 202:
                raise StackUnavailable(f"ingest answered {response.status_code}: {response.text[:1000]}")
            answer = response.json()
            accepted += int(answer["accepted"])
            duplicates += int(answer["duplicates"])
        return accepted, duplicates

    async def clocks(self) -> dict[str, datetime]:
        """Each service's current time."""
        answers = await asyncio.gather(
            *(self._request("GET", f"{url}/v1/clock", headers=self._admin) for url in self.address.urls.values())
        )
        moments = {}
        for name, response in zip(self.address.urls, answers, strict=True):
            response.raise_for_status()
            moments[name] = datetime.fromisoformat(response.json()["now"])
        return moments

    async def set_clocks(self, moment: datetime, *, skip: tuple[str, ...] = ()) -> None:
        """Move every service's clock (but those in `skip`) to `moment`, all at once; clocks only move forward."""
        names = [name for name in self.address.urls if name not in skip]
        answers = await asyncio.gather(
            *(
                self._request(
                    "POST", f"{self.address.urls[name]}/v1/clock", json={"now": moment.isoformat()}, headers=self._admin
                )
                for name in names
            )
        )
        for name, response in zip(names, answers, strict=True):
            if response.status_code != 200:
                raise StackUnavailable(f"{name} refused the clock move to {moment}: {response.text[:500]}")

    async def erase(self, customer_id: str) -> None:
        """GDPR erasure at consent (`DELETE /v1/customers/{id}`); consent tells every other service."""
        response = await self._request(
            "DELETE", f"{self.address.urls['consent']}/v1/customers/{customer_id}", headers=self._admin
        )
        if response.status_code not in (200, 202, 204, 404):
            raise StackUnavailable(f"consent refused the erasure of {customer_id}: {response.text[:500]}")

    async def get(self, service: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """An authenticated GET with the admin key; the decoded JSON body."""
        response = await self._request(
            "GET", f"{self.address.urls[service]}{path}", params=dict(params or {}), headers=self._admin
        )
        response.raise_for_status()
        return response.json()

    async def get_all(self, service: str, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list (`items`, `next_cursor`)."""
        items: list[dict[str, Any]] = []
        query = {"limit": 1000, **(params or {})}
        while True:
            page = await self.get(service, path, query)
            items += page["items"]
            if not page.get("next_cursor"):
                return items
            query["cursor"] = page["next_cursor"]

    async def risk_progress(self) -> dict[str, Any] | None:
        """Risk's `GET /v1/progress`, or None while its lag is not known yet (503)."""
        response = await self._client.get(f"{self.address.urls['risk']}/v1/progress", headers=self._admin)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body
