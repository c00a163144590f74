"""The durable webhook deliverer and the dead-letter API: rows written with the actions, POSTed signed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import webhook_repository as repo
from winback_campaign.adapters.webhook_sender import WebhookSender
from winback_campaign.domain.webhooks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, RetryPolicy, after_attempt, sign
from winback_shared.aio import wait_any
from winback_shared.clock import Clock
from winback_shared.kafka.consumer import is_transient

log = structlog.get_logger(__name__)

ATTEMPTS = Counter("winback_campaign_webhook_attempts_total", "Webhook POSTs by resulting state", ["status"])


class UnknownDelivery(LookupError):
    """No delivery with this id."""


class AlreadyDelivered(ValueError):
    """The receiver accepted it already: sending it again is not a retry."""


@dataclass(frozen=True, slots=True)
class DelivererConfig:
    secret: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 50
    interval_s: float = 1.0


class WebhookDeliverer:
    """Each round claims due deliveries (`FOR UPDATE SKIP LOCKED`), POSTs them at once, records the outcomes.

    The claim stays locked while the POSTs run: a crash rolls back and the delivery is sent again
    (at-least-once; receivers deduplicate on `Idempotency-Key`, the action id), never lost.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        sender: WebhookSender,
        config: DelivererConfig,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sender = sender
        self._config = config
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def deliver_due(self) -> int:
        """One round; returns how many deliveries were attempted."""
        async with self._sessions.begin() as session:
            due = await repo.claim_due(session, self._clock.now(), self._config.batch_size)
            if not due:
                return 0
            attempts = await asyncio.gather(*(self._post(d) for d in due))
            now = self._clock.now()
            settled = [
                (d.delivery_id, after_attempt(a, d.attempts, now, self._config.policy))
                for d, a in zip(due, attempts, strict=True)
            ]
            await repo.record(session, settled, now)
        for _, s in settled:
            ATTEMPTS.labels(s.status).inc()
            if s.status == "dead":
                log.warning("webhook_dead_lettered", attempts=s.attempts, error=s.last_error)
        return len(due)

    async def _post(self, d: repo.DueDelivery) -> Any:
        headers = {
            "Content-Type": "application/cloudevents+json",
            SIGNATURE_HEADER: sign(self._config.secret, d.payload),
            IDEMPOTENCY_HEADER: d.action_id,
            "X-Winback-Delivery-Attempt": str(d.attempts + 1),
        }
        return await self._sender.post(d.url, d.payload, headers)

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until stopped; database outages are retried with backoff."""
        backoff = 0.5
        try:
            while not stop.is_set():
                try:
                    attempted = await self.deliver_due()
                    backoff = 0.5
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("webhook_round_failed", error=str(exc)[:500], retry_in_s=backoff)
                    await wait_any(stop, seconds=backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if attempted < self._config.batch_size:
                    await wait_any(stop, self._wakeup, seconds=self._config.interval_s)
                    self._wakeup.clear()
        finally:
            await self._sender.close()


async def deliveries_page(
    sessions: async_sessionmaker[AsyncSession],
    *,
    status: str | None,
    action_id: str | None,
    limit: int,
    before: int | None,
) -> dict[str, Any]:
    """Newest first; `next_cursor` is the id to pass as `cursor` for the next page."""
    async with sessions() as session:
        rows = await repo.page(session, status=status, action_id=action_id, limit=limit + 1, before=before)
    items = rows[:limit]
    return {"items": items, "next_cursor": str(items[-1]["delivery_id"]) if len(rows) > limit else None}


async def retry(sessions: async_sessionmaker[AsyncSession], clock: Clock, delivery_id: int) -> dict[str, Any]:
    """Make a dead (or waiting) delivery due now; a dead one gets the full number of attempts again."""
    async with sessions.begin() as session:
        row = await repo.get_for_update(session, delivery_id)
        if row is None:
            raise UnknownDelivery(f"no webhook delivery {delivery_id}")
        if row["status"] == "delivered":
            raise AlreadyDelivered(f"webhook delivery {delivery_id} was accepted already")
        await repo.make_due(session, delivery_id, clock.now(), reset_attempts=row["status"] == "dead")
        row = await repo.get_for_update(session, delivery_id)
    assert row is not None
    return row
