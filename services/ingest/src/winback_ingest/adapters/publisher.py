"""A publisher that throws its producer away after a failed publish, so late delivery cannot happen."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

log = structlog.get_logger(__name__)


class AbandoningPublisher(EventPublisher):
    """`publish` either is acknowledged in full, or none of its records can reach the broker later.

    aiokafka keeps unacknowledged batches in its accumulator and retries them after a timeout
    seen by the caller. Ingest rolls its `(source, id)` claims back on failure, so such a late
    delivery plus the client's retry would put the event into Kafka twice. A failed publish
    therefore stops that producer's sender at once, fails all its pending batches and closes
    its connections; the next publish builds a fresh producer.
    """

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 10_000, linger_ms: int = 5) -> None:
        super().__init__(bootstrap, request_timeout_ms=request_timeout_ms, linger_ms=linger_ms)
        self._closing: set[asyncio.Task[None]] = set()
        self.abandoned = 0

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not records:
            return
        producer: AIOKafkaProducer | None = None
        try:
            producer = await self._started()
            futures = [
                await producer.send(
                    record.topic,
                    value=record.value,
                    key=record.key.encode() if record.key is not None else None,
                    headers=_headers(record),
                )
                for record in records
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        except BaseException:
            # Also on cancellation: the caller's timeout cancels us and then reports the failure.
            if producer is not None:
                self._abandon(producer)
            raise

    def _abandon(self, producer: AIOKafkaProducer) -> None:
        """Synchronously make `producer` unable to send anything more; close it in the background."""
        if self._producer is producer:
            self._producer = None
        if getattr(producer, "_winback_abandoned", False):
            return
        producer._winback_abandoned = True  # type: ignore[attr-defined]
        self.abandoned += 1
        # No await before these lines: nothing else runs until the sender is told to stop and
        # every batch it holds has failed, so none is drained again (aiokafka 0.14 internals).
        sender = producer._sender
        task = sender.sender_task if sender is not None else None
        if task is not None:
            task.cancel()
        producer._message_accumulator.fail_all(KafkaConnectionError("publish failed; producer abandoned"))
        producer._closed = True
        log.warning("producer_abandoned", reason="publish failed or timed out")
        closing = asyncio.create_task(self._close_abandoned(producer, task))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_abandoned(producer: AIOKafkaProducer, task: asyncio.Task[None] | None) -> None:
        with contextlib.suppress(BaseException):
            await producer.client.close()
        if task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 30.0)

    async def close(self) -> None:
        await super().close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _headers(record: OutgoingRecord) -> list[tuple[str, bytes]]:
    headers = [("content-type", b"application/cloudevents+json")]
    if record.event_type:
        headers.append(("ce_type", record.event_type.encode()))
    headers.extend(record.extra_headers)
    return headers
