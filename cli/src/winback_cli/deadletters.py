"""`winback deadletters`: what the services parked on `winback.deadletter`, and sending it back after a fix.

A consumer parks a record it cannot apply, as it was, with `x-winback-service`, `x-winback-error`
and `x-winback-origin` (`topic/partition/offset`) headers (winback_shared/kafka/consumer.py). Once
the cause is fixed, `replay` publishes each parked record of a service to its origin topic again,
with its key, value and own headers: the service applies it now, and every other consumer of that
topic skips it as one it applied before (idempotent consumers, `(source, id)` inbox). Replaying the
same record twice is harmless for the same reason.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.table import Table

from winback_cli.devstack import DEV_BROKER_PORT
from winback_shared.events.topics import Topic

PARKING_HEADERS = ("x-winback-service", "x-winback-error", "x-winback-origin")
REPLAYED_FROM = "x-winback-replayed-from"


@dataclass(frozen=True)
class Parked:
    service: str
    error: str
    origin_topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]  # the record's own headers, without the parking ones
    at: str  # where it is parked: deadletter partition/offset


def parked_of(
    partition: int, offset: int, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> Parked:
    """A record of `winback.deadletter` read as what was parked, where from and why."""
    pairs = [(str(k), bytes(v)) for k, v in headers or ()]
    named = dict(pairs)
    origin = named.get("x-winback-origin", b"").decode(errors="replace")
    return Parked(
        service=named.get("x-winback-service", b"unknown").decode(errors="replace"),
        error=named.get("x-winback-error", b"").decode(errors="replace"),
        origin_topic=origin.rsplit("/", 2)[0] if origin.count("/") >= 2 else "",
        key=key,
        value=value,
        headers=tuple((k, v) for k, v in pairs if k not in PARKING_HEADERS and k != REPLAYED_FROM),
        at=f"{partition}/{offset}",
    )


async def read_parked(bootstrap: str) -> list[Parked]:
    """Every record on `winback.deadletter` now, from the start of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        topic = Topic.DEADLETTER.value
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[Parked] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=5_000)).items():
                found += [parked_of(tp.partition, r.offset, r.key, r.value, r.headers) for r in records]
        return found
    finally:
        await consumer.stop()


async def replay(bootstrap: str, parked: list[Parked]) -> int:
    """Publish each parked record to its origin topic again (acks=all); returns how many were sent."""
    sendable = [p for p in parked if p.origin_topic]
    if not sendable:
        return 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(
                p.origin_topic,
                value=p.value,
                key=p.key,
                headers=[*p.headers, (REPLAYED_FROM, f"{Topic.DEADLETTER.value}/{p.at}".encode())],
            )
            for p in sendable
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(sendable)


def _chosen(parked: list[Parked], service: str | None) -> list[Parked]:
    return [p for p in parked if service is None or p.service == service]


def deadletters_command(
    action: Annotated[str, typer.Argument(help="list: count what is parked; replay: send it back to its topic")],
    service: Annotated[str | None, typer.Option(help="only what this service parked (risk, metrics, ...)")] = None,
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers")] = os.environ.get(
        "WINBACK_KAFKA_BOOTSTRAP", f"127.0.0.1:{DEV_BROKER_PORT}"
    ),
) -> None:
    """What the services parked on winback.deadletter (`list`), or send it back once fixed (`replay`)."""
    console = Console()
    if action not in ("list", "replay"):
        raise typer.BadParameter("list or replay", param_hint="ACTION")
    if action == "replay" and service is None:
        raise typer.BadParameter("replay needs --service: replay what one service parked, after fixing it")
    parked = _chosen(asyncio.run(read_parked(bootstrap)), service)
    if action == "list":
        _print_counts(console, parked, lambda p: (p.service, p.origin_topic, p.error.split("\n", 1)[0][:120]))
        return
    sent = asyncio.run(replay(bootstrap, parked))
    console.print(f"replayed {sent} record(s) parked by {service} to their topics; {len(parked) - sent} without origin")


def _print_counts(console: Console, parked: list[Parked], key: Callable[[Parked], tuple[str, str, str]]) -> None:
    counts = Counter(key(p) for p in parked)
    table = Table(title=f"{len(parked)} record(s) parked on {Topic.DEADLETTER.value}")
    for column in ("service", "from topic", "error (first line)", "records"):
        table.add_column(column)
    for (service, topic, error), n in counts.most_common():
        table.add_row(service, topic, error, str(n))
    console.print(table)
