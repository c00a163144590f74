"""BatchConsumer, OutboxRelay and claim_unprocessed against a real broker and a real database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.events import event
from tests.support.polling import until
from winback_shared.db.engine import create_engine, create_sessionmaker, make_metadata
from winback_shared.db.inbox import claim_unprocessed, processed_events_table
from winback_shared.db.outbox import OutboxMessage, enqueue, outbox_table
from winback_shared.db.relay import OutboxRelay
from winback_shared.events import CloudEvent, Topic, parse_event
from winback_shared.kafka.admin import ensure_topics
from winback_shared.kafka.consumer import BatchConsumer
from winback_shared.kafka.producer import EventPublisher

pytestmark = pytest.mark.integration

SCHEMA = "shared_test"


async def _new_topic(bootstrap: str) -> str:
    # One partition: the order of the records is the order they were produced in.
    topic = f"test.shared.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic], partitions=1)
    return topic


def _order(customer: str, n: int) -> dict[str, Any]:
    return event(
        "order.placed", {"customer_id": customer, "order_id": f"o-{n}", "amount": "10.00"}, id=f"{customer}-{n}"
    )


async def _produce(bootstrap: str, topic: str, values: Sequence[bytes | dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            await producer.send_and_wait(topic, raw, key=b"c-1")
    finally:
        await producer.stop()


async def _read(bootstrap: str, topic: str, until: Callable[[list[ConsumerRecord]], bool]) -> list[ConsumerRecord]:
    """Every record of `topic` from the start, read until `until` holds (or 10 s pass)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        deadline = asyncio.get_running_loop().time() + 10
        while not until(records) and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    # A consumer that never subscribes only looks the offset up; it does not join the group.
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        offset: int | None = await probe.committed(TopicPartition(topic, 0))
    finally:
        await probe.stop()
    return offset


@pytest.fixture(scope="module")
async def publisher(kafka_bootstrap: str) -> AsyncIterator[EventPublisher]:
    pub = EventPublisher(kafka_bootstrap)
    yield pub
    await pub.close()


def _consumer(bootstrap: str, topic: str, handler: Any, publisher: EventPublisher, **kw: Any) -> BatchConsumer:
    return BatchConsumer(
        service="shared-test",
        bootstrap=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handler=handler,
        dead_letters=publisher,
        session_timeout_ms=1000,
        heartbeat_interval_ms=300,
        **kw,
    )


async def _run_until(consumer: BatchConsumer, done: Callable[[], Awaitable[bool]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        # The wait covers the group join (Tansu takes seconds for it, more on a loaded machine) and the
        # retries' back-off: the suite's usual 30 s, not 10 s.
        await until(done, timeout_s=30, interval_s=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _dead_letters_of(topic: str) -> Callable[[list[ConsumerRecord]], list[ConsumerRecord]]:
    def mine(records: list[ConsumerRecord]) -> list[ConsumerRecord]:
        return [r for r in records if dict(r.headers).get("x-winback-origin", b"").startswith(topic.encode() + b"/")]

    return mine


async def test_offsets_are_committed_only_after_the_handler_succeeded(
    kafka_bootstrap: str, publisher: EventPublisher
) -> None:
    topic = await _new_topic(kafka_bootstrap)
    await _produce(kafka_bootstrap, topic, [_order("c-1", n) for n in range(5)])
    calls: list[list[str]] = []
    committed_during_calls: list[int | None] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        calls.append([e.id for e in events])
        committed_during_calls.append(await _committed(kafka_bootstrap, consumer._group_id, topic))
        if len(calls) == 1:
            raise ValueError("not transient: fails once")

    consumer = _consumer(kafka_bootstrap, topic, handler, publisher)

    async def all_committed() -> bool:
        return await _committed(kafka_bootstrap, consumer._group_id, topic) == 5

    await _run_until(consumer, all_committed)
    # The failed batch comes again, unchanged; every event is applied in the end.
    assert calls[1] == calls[0] == [f"c-1-{n}" for n in range(len(calls[0]))]
    assert {i for call in calls[1:] for i in call} == {f"c-1-{n}" for n in range(5)}
    # Nothing was committed while the batch failed and was retried.
    assert committed_during_calls[:2] == [None, None]


async def test_a_poison_record_is_dead_lettered_without_blocking_the_rest(
    kafka_bootstrap: str, publisher: EventPublisher
) -> None:
    topic = await _new_topic(kafka_bootstrap)
    await _produce(kafka_bootstrap, topic, [_order("c-1", 1), b"{not json", _order("c-1", 2)])
    applied: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        applied.extend(e.id for e in events)

    consumer = _consumer(kafka_bootstrap, topic, handler, publisher)

    async def both_applied() -> bool:
        return len(applied) == 2

    await _run_until(consumer, both_applied)
    assert applied == ["c-1-1", "c-1-2"]
    mine = _dead_letters_of(topic)
    parked = mine(await _read(kafka_bootstrap, Topic.DEADLETTER.value, lambda rs: bool(mine(rs))))
    assert [r.value for r in parked] == [b"{not json"]
    headers = dict(parked[0].headers)
    assert headers["x-winback-error"].startswith(b"undecodable event")
    assert headers["x-winback-origin"] == f"{topic}/0/1".encode()
    assert parked[0].key == b"c-1"


async def test_only_types_skips_other_types_by_header_undecoded_and_commits_them(
    kafka_bootstrap: str, publisher: EventPublisher
) -> None:
    """Metrics' consumer: types it does not act on are skipped by their `ce_type` header, even if
    their bodies would not decode; records without the header are decoded as usual."""
    topic = await _new_topic(kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    usage = event("usage.reported", {"customer_id": "c-1", "metric": "logins", "value": 3}, id="u-1")
    try:
        for value, ce_type in (
            (_order("c-1", 1), b"order.placed"),
            (usage, b"usage.reported"),
            (b"{not json", b"ticket.opened"),  # skipped before decoding: not parked either
            (_order("c-1", 2), None),
        ):
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            headers = [("ce_type", ce_type)] if ce_type is not None else []
            await producer.send_and_wait(topic, raw, key=b"c-1", headers=headers)
    finally:
        await producer.stop()
    applied: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        applied.extend(e.id for e in events)

    consumer = _consumer(kafka_bootstrap, topic, handler, publisher, only_types={"order.placed"})

    async def all_committed() -> bool:
        return await _committed(kafka_bootstrap, consumer._group_id, topic) == 4

    await _run_until(consumer, all_committed)
    assert applied == ["c-1-1", "c-1-2"]


async def test_an_event_that_always_fails_is_dead_lettered_and_the_rest_applied(
    kafka_bootstrap: str, publisher: EventPublisher
) -> None:
    topic = await _new_topic(kafka_bootstrap)
    await _produce(kafka_bootstrap, topic, [_order("c-1", n) for n in range(4)])
    applied: list[str] = []
    attempts_on_bad = 0

    async def handler(events: Sequence[CloudEvent]) -> None:
        nonlocal attempts_on_bad
        if any(e.id == "c-1-2" for e in events):
            attempts_on_bad += len(events) == 1
            raise RuntimeError("cannot apply c-1-2")
        applied.extend(e.id for e in events)  # a failed batch applied nothing: one transaction

    consumer = _consumer(kafka_bootstrap, topic, handler, publisher, max_attempts=2)

    async def settled() -> bool:
        return await _committed(kafka_bootstrap, consumer._group_id, topic) == 4

    await _run_until(consumer, settled)
    assert sorted(applied) == ["c-1-0", "c-1-1", "c-1-3"]
    assert attempts_on_bad == 2
    mine = _dead_letters_of(topic)
    parked = mine(await _read(kafka_bootstrap, Topic.DEADLETTER.value, lambda rs: bool(mine(rs))))
    assert len(parked) == 1
    assert parse_event(json.loads(parked[0].value)).id == "c-1-2"
    assert b"cannot apply c-1-2" in dict(parked[0].headers)["x-winback-error"]


async def test_a_transient_error_that_never_heals_is_capped_then_dead_lettered(
    kafka_bootstrap: str, publisher: EventPublisher
) -> None:
    topic = await _new_topic(kafka_bootstrap)
    await _produce(kafka_bootstrap, topic, [_order("c-1", n) for n in range(3)])
    applied: list[str] = []
    attempts_alone = 0

    async def handler(events: Sequence[CloudEvent]) -> None:
        nonlocal attempts_alone
        if any(e.id == "c-1-1" for e in events):
            attempts_alone += len(events) == 1
            # Classified as an outage, but this record causes it every time.
            raise ConnectionError("connection reset while applying c-1-1")
        applied.extend(e.id for e in events)

    # The cap on other errors is out of reach: only the transient cap can park the record.
    consumer = _consumer(kafka_bootstrap, topic, handler, publisher, max_attempts=100, max_transient_attempts=3)

    async def settled() -> bool:
        return await _committed(kafka_bootstrap, consumer._group_id, topic) == 3

    await _run_until(consumer, settled)
    assert sorted(applied) == ["c-1-0", "c-1-2"]
    assert attempts_alone == 3
    mine = _dead_letters_of(topic)
    parked = mine(await _read(kafka_bootstrap, Topic.DEADLETTER.value, lambda rs: bool(mine(rs))))
    assert [parse_event(json.loads(r.value)).id for r in parked] == ["c-1-1"]
    assert b"ConnectionError: connection reset" in dict(parked[0].headers)["x-winback-error"]


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url, pool_size=2)
    async with eng.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(_metadata.create_all)
    yield eng
    await eng.dispose()


_metadata: MetaData = make_metadata(SCHEMA)
_outbox: Table = outbox_table(_metadata)
_processed: Table = processed_events_table(_metadata)


@pytest.fixture(scope="module")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def test_outbox_relay_publishes_in_id_order_and_deletes(
    kafka_bootstrap: str, publisher: EventPublisher, sessions: async_sessionmaker[AsyncSession]
) -> None:
    topic = await _new_topic(kafka_bootstrap)
    events = [parse_event(_order(f"c-{n % 3}", n)) for n in range(7)]
    async with sessions.begin() as session:
        await enqueue(session, _outbox, [OutboxMessage.of(topic, e) for e in events[:4]])
    async with sessions.begin() as session:
        await enqueue(session, _outbox, [OutboxMessage.of(topic, e) for e in events[4:]])
    relay = OutboxRelay(service="shared-test", sessions=sessions, table=_outbox, publisher=publisher, batch_size=5)
    assert await relay.publish_pending() == 5
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(_outbox)) == 0
    records = await _read(kafka_bootstrap, topic, lambda rs: len(rs) >= 7)
    assert [json.loads(r.value)["id"] for r in records] == [e.id for e in events]
    assert [r.key for r in records] == [e.customer_id.encode() for e in events if e.customer_id]
    assert dict(records[0].headers)["ce_type"] == b"order.placed"


async def test_claim_unprocessed_returns_only_new_events(sessions: async_sessionmaker[AsyncSession]) -> None:
    first, second, third = (parse_event(_order("c-9", n)) for n in range(3))
    async with sessions.begin() as session:
        # A duplicate inside one batch is applied once.
        assert await claim_unprocessed(session, _processed, [second, first, second]) == [second, first]
    async with sessions.begin() as session:
        assert await claim_unprocessed(session, _processed, [first, third, second]) == [third]
    async with sessions.begin() as session:
        assert await claim_unprocessed(session, _processed, [first]) == []


async def test_claims_vanish_with_a_rolled_back_transaction(sessions: async_sessionmaker[AsyncSession]) -> None:
    fresh = parse_event(_order("c-8", 1))
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            assert await claim_unprocessed(session, _processed, [fresh]) == [fresh]
            raise RuntimeError("the batch failed")
    async with sessions.begin() as session:
        assert await claim_unprocessed(session, _processed, [fresh]) == [fresh]


async def test_the_lag_counts_a_batch_until_it_is_applied(kafka_bootstrap: str, publisher: EventPublisher) -> None:
    """An idle consumer reads lag 0; the batch it is applying must not read as caught up."""
    topic = await _new_topic(kafka_bootstrap)
    lag_while_applying: list[int | None] = []
    applied: list[str] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        lag_while_applying.append(consumer.lag)
        applied.extend(e.id for e in events)

    consumer = _consumer(kafka_bootstrap, topic, handler, publisher)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:

        async def idle_and_caught_up() -> bool:
            return consumer.lag == 0

        await until(idle_and_caught_up, timeout_s=30, interval_s=0.05)  # includes the group join
        await _produce(kafka_bootstrap, topic, [_order("c-1", n) for n in range(3)])

        async def all_applied() -> bool:
            return len(applied) == 3 and consumer.lag == 0

        await until(all_applied, timeout_s=30, interval_s=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    # Each batch counted at least its own records as behind while it was being applied.
    assert lag_while_applying and all(lag is not None and lag > 0 for lag in lag_while_applying)
