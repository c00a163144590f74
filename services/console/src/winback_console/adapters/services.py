"""The five services' HTTP APIs as the console calls them, with the signed-in user's own key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

SERVICE_NAMES = ("ingest", "risk", "campaign", "consent", "metrics")


class ServiceUnavailable(Exception):
    """A service did not answer, or answered 5xx: the page says which, and answers 503."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} is unavailable: {reason}")
        self.service = service
        self.reason = reason


class ServiceRefused(Exception):
    """A service answered 4xx: the request (or the user's key) was not acceptable to it."""

    def __init__(self, service: str, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"{service} answered {status}: {detail}")
        self.service = service
        self.status = status
        self.detail = detail
        self.body = body


def _detail(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500], None
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or response.reason_phrase), body
    return response.reason_phrase, body


class ServiceGateway:
    """One pooled HTTP client for all five services; built by the composition root, closed on shutdown."""

    def __init__(self, urls: Mapping[str, str], *, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None):
        self._urls = dict(urls)
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    def url(self, service: str) -> str:
        return self._urls[service]

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        key: str | None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """The JSON answer of one call; ServiceRefused on 4xx, ServiceUnavailable on no answer or 5xx."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._client.request(
                method, self._urls[service] + path, params=clean, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(service, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ServiceUnavailable(service, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            detail, body = _detail(response)
            raise ServiceRefused(service, response.status_code, detail, body)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnavailable(service, "answer is not JSON") from exc

    async def get(self, service: str, path: str, *, key: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.call(service, "GET", path, key=key, params=params)

    async def reachable(self, service: str) -> bool:
        """Whether the service answers its own /healthz with 200."""
        try:
            response = await self._client.get(self._urls[service] + "/healthz", timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code == 200
