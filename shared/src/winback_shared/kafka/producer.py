"""Publishing to Kafka with acks=all; starts lazily so a service boots while the broker is down."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from winback_shared.events.envelope import CloudEvent


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: str | None
    value: bytes
    event_type: str | None = None
    extra_headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, topic: str, event: CloudEvent) -> OutgoingRecord:
        return cls(topic, event.customer_id, event.to_json_bytes(), event.type)


class EventPublisher:
    """Wraps one AIOKafkaProducer; `publish` returns only when the broker acknowledged all."""

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 10_000, linger_ms: int = 5) -> None:
        self._bootstrap = bootstrap
        self._request_timeout_ms = request_timeout_ms
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    # Tansu rejects the idempotent producer; the outbox and idempotent
                    # consumers give exactly-once effects instead.
                    enable_idempotence=False,
                    linger_ms=self._linger_ms,
                    max_batch_size=1_048_576,
                    max_request_size=8_388_608,
                    request_timeout_ms=self._request_timeout_ms,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Send all records and wait until each is acknowledged; raises if any failed."""
        if not records:
            return
        producer = await self._started()
        futures = []
        for record in records:
            headers = [("content-type", b"application/cloudevents+json")]
            if record.event_type:
                headers.append(("ce_type", record.event_type.encode()))
            headers.extend(record.extra_headers)
            futures.append(
                await producer.send(
                    record.topic,
                    value=record.value,
                    key=record.key.encode() if record.key is not None else None,
                    headers=headers,
                )
            )
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the broker answers a metadata request within the timeout."""
        try:
            producer = await asyncio.wait_for(self._started(), timeout_s)
            return bool(await asyncio.wait_for(producer.client.force_metadata_update(), timeout_s))
        except Exception:
            return False

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
