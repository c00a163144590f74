"""Reading and writing topics directly in tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.topics import Topic
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord


async def read_topic(
    bootstrap: str, topic: str, *, idle_s: float = 1.0, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """Every record of `topic` from the start, decoded as JSON; stops after `idle_s` without news."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        values: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_news = loop.time()
        while loop.time() < deadline and loop.time() - last_news < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                values.extend(json.loads(r.value) for r in records)
                last_news = loop.time()
        return values
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, events: Sequence[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            key = event.get("data", {}).get("customer_id")
            await producer.send_and_wait(topic, json.dumps(event).encode(), key=key.encode() if key else None)
    finally:
        await producer.stop()


async def read_records(bootstrap: str, topic: str, *, idle_s: float = 1.0, timeout_s: float = 30.0) -> list[Any]:
    """Every raw ConsumerRecord of `topic` from the start (value bytes, headers)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_news = loop.time()
        while loop.time() < deadline and loop.time() - last_news < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
                if part:
                    last_news = loop.time()
        return records
    finally:
        await consumer.stop()


async def produce_raw(bootstrap: str, topic: str, values: Sequence[tuple[str | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key.encode() if key else None)
    finally:
        await producer.stop()


async def publish(bootstrap: str, records: Sequence[tuple[Topic, CloudEvent]]) -> None:
    """Publish typed events, each on its topic, through the services' own publisher (acks=all)."""
    publisher = EventPublisher(bootstrap)
    try:
        await publisher.publish([OutgoingRecord.of(topic.value, event) for topic, event in records])
    finally:
        await publisher.close()


async def produce_events(bootstrap: str, events: Sequence[CloudEvent]) -> None:
    """Publish typed events on `winback.events`, as ingest would."""
    await publish(bootstrap, [(Topic.EVENTS, e) for e in events])
