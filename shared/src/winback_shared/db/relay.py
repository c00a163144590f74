"""Publishes the outbox to Kafka in id order, then deletes what the broker acknowledged."""

from __future__ import annotations

import asyncio
import zlib

import structlog
from prometheus_client import Counter
from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_shared.aio import wait_any
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

log = structlog.get_logger(__name__)

PUBLISHED = Counter("winback_outbox_published_total", "Outbox records published", ["service"])
RELAY_ERRORS = Counter("winback_outbox_errors_total", "Failed outbox relay rounds", ["service"])


class OutboxRelay:
    """One active relay per service: a transaction-level advisory lock keeps global order.

    A crash between the broker's acknowledgement and the delete republishes a batch; the
    consumers are idempotent on `(source, id)`, so that is harmless (at-least-once).
    """

    def __init__(
        self,
        *,
        service: str,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        publisher: EventPublisher,
        batch_size: int = 500,
        poll_interval_s: float = 0.2,
    ) -> None:
        self._service = service
        self._sessions = sessions
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._lock_key = zlib.crc32(f"outbox:{table.fullname}".encode()) & 0x7FFFFFFF
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Called after a commit that wrote to the outbox, so the relay need not wait a poll."""
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many records went out (0 when idle or locked)."""
        t = self._table
        async with self._sessions.begin() as session:
            locked = await session.scalar(select(func.pg_try_advisory_xact_lock(self._lock_key)))
            if not locked:
                return 0
            rows = (
                await session.execute(
                    select(t.c.id, t.c.topic, t.c.key, t.c.event_type, t.c.payload)
                    .order_by(t.c.id)
                    .limit(self._batch_size)
                )
            ).all()
            if not rows:
                return 0
            await self._publisher.publish([OutgoingRecord(r.topic, r.key, r.payload, r.event_type) for r in rows])
            await session.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
        PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                sent = await self.publish_pending()
                backoff = 0.2
            except Exception as exc:
                RELAY_ERRORS.labels(self._service).inc()
                log.warning("outbox_relay_failed", error=str(exc), retry_in_s=backoff)
                await wait_any(stop, seconds=backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent == self._batch_size:
                continue
            self._wakeup.clear()
            await wait_any(self._wakeup, stop, seconds=self._poll_interval_s)
