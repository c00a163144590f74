"""`winback deadletters`: a parked record goes back to its origin topic with its own headers, once fixed."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.events import event
from winback_cli.deadletters import REPLAYED_FROM, read_parked, replay
from winback_shared.events.topics import Topic
from winback_shared.kafka.admin import ensure_topics

pytestmark = pytest.mark.integration


async def _records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        found = []
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.key, r.value, dict(r.headers)) for r in records]
        return found
    finally:
        await consumer.stop()


async def test_a_parked_record_is_listed_and_replayed_to_its_origin_with_its_own_headers(kafka_bootstrap: str) -> None:
    origin = f"test.deadletters.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [origin, Topic.DEADLETTER.value], partitions=1)
    order = event("order.placed", {"customer_id": "c-7", "order_id": "o-1", "amount": "10.00"})
    value = json.dumps(order).encode()
    service = f"svc-{uuid.uuid4().hex[:6]}"  # the topic is shared with other tests: only this one's records
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            Topic.DEADLETTER.value,
            value,
            key=b"c-7",
            headers=[
                ("content-type", b"application/cloudevents+json"),
                ("ce_type", b"order.placed"),
                ("x-winback-service", service.encode()),
                ("x-winback-error", b"IntegrityError: null value in column\nSQL ..."),
                ("x-winback-origin", f"{origin}/0/41".encode()),
            ],
        )
    finally:
        await producer.stop()

    [parked] = [p for p in await read_parked(kafka_bootstrap) if p.service == service]
    assert (parked.origin_topic, parked.key, parked.value) == (origin, b"c-7", value)
    assert parked.error.startswith("IntegrityError")
    assert parked.headers == (("content-type", b"application/cloudevents+json"), ("ce_type", b"order.placed"))

    assert await replay(kafka_bootstrap, [parked]) == 1
    [(key, sent, headers)] = await _records(kafka_bootstrap, origin)
    assert (key, sent) == (b"c-7", value)
    assert headers["ce_type"] == b"order.placed"
    assert headers[REPLAYED_FROM] == f"{Topic.DEADLETTER.value}/{parked.at}".encode()
    assert not {"x-winback-service", "x-winback-error", "x-winback-origin"} & headers.keys()
