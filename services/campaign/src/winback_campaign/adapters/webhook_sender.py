"""HTTP POST of one signed webhook body; every failure becomes an Attempt, never an exception."""

from __future__ import annotations

import httpx

from winback_campaign.domain.webhooks import Attempt


class WebhookSender:
    """One pooled client; redirects are not followed (a signed body goes only where configured)."""

    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:500])
        return Attempt(response.status_code, None if response.is_success else response.text[:200] or None)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
