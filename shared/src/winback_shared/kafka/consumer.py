"""Batch consumption: one handler call (one database transaction) per polled batch.

Offsets are committed only after the handler returned, i.e. after its database commit. A
failing batch is retried with backoff, then split, and the records that still fail are parked
on the dead-letter topic, so one poison record cannot stop a partition. Infrastructure failures
(database or broker down) get many more attempts (`max_transient_attempts`, minutes of backoff)
than other errors (`max_attempts`): an outage should heal before anything is parked, but an error
that only looks transient (a timeout one record always causes) must not stop the partition for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from winback_shared.aio import wait_any
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.registry import parse_event_json
from winback_shared.events.topics import Topic
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

log = structlog.get_logger(__name__)

BatchHandler = Callable[[Sequence[CloudEvent]], Awaitable[None]]
# For consumers that must see records as they are (ingest validates foreign input itself).
RecordBatchHandler = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]

CONSUMED = Counter("winback_events_consumed_total", "Records consumed", ["service", "topic"])
DEAD_LETTERED = Counter("winback_events_dead_lettered_total", "Records dead-lettered", ["service", "topic"])
BATCH_FAILURES = Counter("winback_batch_failures_total", "Failed handler attempts", ["service"])
LAG = Gauge("winback_consumer_lag", "Records behind the log end after the last poll", ["service", "group"])

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    ConnectionError,
    OperationalError,
    InterfaceError,
    KafkaError,
)


# PostgreSQL's own "try the transaction again": deadlock_detected and serialization_failure.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or _sqlstate(exc) in RETRY_SQLSTATES):
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


def _sqlstate(exc: DBAPIError) -> str | None:
    """The server's SQLSTATE, from the DBAPI error or the driver's exception it wraps (asyncpg)."""
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """Whether the group has given this member its partitions (possibly none) since the last rebalance."""

    def __init__(self) -> None:
        self.known = False

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.known = False
        if revoked:
            log.info("partitions_revoked", count=len(revoked))

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.known = True
        # When a member starts consuming after a start or a rebalance: the join is a visible pause.
        log.info("partitions_assigned", partitions=sorted(f"{tp.topic}-{tp.partition}" for tp in assigned))


class BatchConsumer:
    def __init__(
        self,
        *,
        service: str,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler | None = None,
        dead_letters: EventPublisher,
        record_handler: RecordBatchHandler | None = None,
        max_records: int = 500,
        max_partition_fetch_bytes: int = 1_048_576,
        max_attempts: int = 5,
        max_transient_attempts: int = 60,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        on_batch_done: Callable[[], None] | None = None,
        only_types: Collection[str] | None = None,
    ) -> None:
        self._service = service
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._topics = list(topics)
        if (handler is None) == (record_handler is None):
            raise ValueError("give exactly one of handler and record_handler")
        self._handler = handler
        self._record_handler = record_handler
        self._dead_letters = dead_letters
        self._max_records = max_records
        self._max_partition_fetch_bytes = max_partition_fetch_bytes
        self._max_attempts = max_attempts
        self._max_transient_attempts = max_transient_attempts
        self._session_timeout_ms = session_timeout_ms
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._on_batch_done = on_batch_done
        # Records whose `ce_type` header names another type are skipped undecoded (and not
        # recorded as applied): for a service that acts on few of a topic's types and answers no
        # "have you applied event X?" question. Records without the header are decoded as usual.
        self._only_types = None if only_types is None else frozenset(t.encode() for t in only_types)
        # Records behind the log end over the assigned partitions; None while unknown (joining the
        # group, rebalancing, or an assigned partition's end not fetched yet).
        self.lag: int | None = None
        self.running = False
        self._assignment = _Assignment()

    @property
    def group_id(self) -> str:
        return self._group_id

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics this consumer subscribes to."""
        return tuple(self._topics)

    def _new_consumer(self) -> AIOKafkaConsumer:
        self._assignment = _Assignment()
        self.lag = None
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            enable_auto_commit=False,
            # Tansu answers `latest` wrongly; a new group reads from the start and the
            # idempotent handlers make that safe.
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=self._heartbeat_interval_ms,
            max_poll_records=self._max_records,
            max_partition_fetch_bytes=self._max_partition_fetch_bytes,
        )
        consumer.subscribe(topics=self._topics, listener=self._assignment)
        return consumer

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; reconnects after broker failures."""
        backoff = 0.5
        while not stop.is_set():
            consumer = self._new_consumer()
            try:
                await consumer.start()
                self.running = True
                backoff = 0.5
                await self._loop(consumer, stop)
            except Exception as exc:
                log.warning("consumer_restarting", group=self._group_id, error=repr(exc), retry_in_s=backoff)
            finally:
                self.running = False
                # Until the next consumer has joined, nothing is known (the last value is stale).
                self.lag = None
                try:
                    await consumer.stop()
                except Exception:
                    pass
            if not stop.is_set():
                await wait_any(stop, seconds=backoff)
                backoff = min(backoff * 2, 5.0)

    async def _loop(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            polled = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
            records = [r for batch in polled.values() for r in batch]
            if not records:
                await self._measure_lag(consumer)
                continue
            # The positions have moved past the batch: count it as behind until it is applied,
            # or an idle consumer's "0" would stand while a replay's first batch is applied.
            await self._measure_lag(consumer, pending=len(records))
            await self._process(records, stop)
            await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in polled.items()})
            # Per topic and batch, not per record: a labels() lookup per record showed in profiles.
            per_topic: dict[str, int] = {}
            for tp, batch in polled.items():
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + len(batch)
            for topic, count in per_topic.items():
                CONSUMED.labels(self._service, topic).inc(count)
            await self._measure_lag(consumer)
            if self._on_batch_done is not None:
                self._on_batch_done()

    async def _measure_lag(self, consumer: AIOKafkaConsumer, pending: int = 0) -> None:
        """Records behind the log end over every assigned partition, not just the polled ones.

        `position` is the next offset getmany will hand out, and everything handed out has been
        applied by now except the `pending` records being applied, which are added. Unknown
        (None) until the group has assigned this member its partitions and the fetcher has seen
        the end of each: a member that has not joined yet must not read as caught up (with
        several consumers, "lag 0" would otherwise be claimed early).
        """
        total = pending
        known = self._assignment.known
        for tp in consumer.assignment() if known else ():
            highwater = consumer.highwater(tp)
            if highwater is None:
                known = False
                break
            total += max(highwater - await consumer.position(tp), 0)
        self.lag = total if known else None
        if known:
            LAG.labels(self._service, self._group_id).set(total)

    async def _process(self, records: list[ConsumerRecord], stop: asyncio.Event) -> None:
        if self._record_handler is not None:
            await self._process_records(self._record_handler, records, stop)
            return
        assert self._handler is not None
        handler = self._handler
        decoded: list[tuple[ConsumerRecord, CloudEvent]] = []
        poison: list[tuple[ConsumerRecord, str]] = []
        for record in records:
            if self._only_types is not None and not self._wanted(record):
                continue
            try:
                decoded.append((record, parse_event_json(record.value)))
            except (ValidationError, ValueError, TypeError) as exc:
                poison.append((record, f"undecodable event: {exc}"))
        await self._dead_letter(poison)
        events = [event for _, event in decoded]
        if not decoded or await self._attempt(lambda: handler(events), len(events), stop):
            return
        # The batch keeps failing: apply one by one, park what still fails.
        for record, event in decoded:
            if not await self._attempt(lambda e=event: handler([e]), 1, stop):  # type: ignore[misc]
                await self._dead_letter([(record, self._last_error)])

    def _wanted(self, record: ConsumerRecord) -> bool:
        assert self._only_types is not None
        for name, value in record.headers or ():
            if name == "ce_type":
                return value in self._only_types
        return True

    async def _process_records(
        self, handler: RecordBatchHandler, records: list[ConsumerRecord], stop: asyncio.Event
    ) -> None:
        if await self._attempt(lambda: handler(records), len(records), stop):
            return
        for record in records:
            if not await self._attempt(lambda r=record: handler([r]), 1, stop):  # type: ignore[misc]
                await self._dead_letter([(record, self._last_error)])

    _last_error: str = ""

    async def _attempt(self, call: Callable[[], Awaitable[None]], size: int, stop: asyncio.Event) -> bool:
        attempt = transient_attempt = 0
        delay = 0.2
        while True:
            try:
                await call()
                return True
            except Exception as exc:
                BATCH_FAILURES.labels(self._service).inc()
                self._last_error = f"{type(exc).__name__}: {exc}"[:2000]
                transient = is_transient(exc)
                if transient:
                    transient_attempt += 1
                else:
                    attempt += 1
                log.warning(
                    "batch_failed",
                    group=self._group_id,
                    size=size,
                    transient=transient,
                    attempt=transient_attempt if transient else attempt,
                    error=self._last_error,
                )
                if attempt >= self._max_attempts or transient_attempt >= self._max_transient_attempts:
                    return False
                if stop.is_set():
                    # Shutting down: leave the offsets uncommitted, the next owner retries.
                    raise asyncio.CancelledError from exc
                await wait_any(stop, seconds=delay)
                delay = min(delay * 2, 5.0)

    async def _dead_letter(self, items: list[tuple[ConsumerRecord, str]]) -> None:
        if not items:
            return
        await self._dead_letters.publish(
            [
                OutgoingRecord(
                    Topic.DEADLETTER.value,
                    record.key.decode(errors="replace") if record.key else None,
                    record.value or b"",
                    None,
                    (
                        ("x-winback-service", self._service.encode()),
                        ("x-winback-error", error.encode()[:4000]),
                        ("x-winback-origin", f"{record.topic}/{record.partition}/{record.offset}".encode()),
                    ),
                )
                for record, error in items
            ]
        )
        for record, error in items:
            DEAD_LETTERED.labels(self._service, record.topic).inc()
            log.error("event_dead_lettered", topic=record.topic, offset=record.offset, error=error)
