"""Transactional outbox: events are written with the state change, published by a relay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary, MetaData, String, Table, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_shared.events.envelope import CloudEvent


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("topic", String(255), nullable=False),
        Column("key", String(255), nullable=True),
        Column("event_type", String(128), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    topic: str
    key: str | None
    event_type: str
    payload: bytes

    @classmethod
    def of(cls, topic: str, event: CloudEvent) -> OutboxMessage:
        return cls(topic, event.customer_id, event.type, event.to_json_bytes())


async def enqueue(session: AsyncSession, table: Table, messages: Sequence[OutboxMessage]) -> None:
    """Add messages to the outbox inside the caller's transaction, in order (one statement).

    One array per column: an executemany sent one INSERT per message, which the database
    parsed, bound and executed row by row (20,000 executions per 100,000 events in risk's
    benchmark). WITH ORDINALITY keeps the given order, so the relay publishes in that order.
    """
    if not messages:
        return
    await session.execute(
        text(
            f"INSERT INTO {table.fullname} (topic, key, event_type, payload) "
            "SELECT u.topic, u.key, u.event_type, u.payload FROM unnest(CAST(:topics AS varchar[]), "
            "CAST(:keys AS varchar[]), CAST(:types AS varchar[]), CAST(:payloads AS bytea[])) "
            "WITH ORDINALITY AS u(topic, key, event_type, payload, n) ORDER BY u.n"
        ),
        {
            "topics": [m.topic for m in messages],
            "keys": [m.key for m in messages],
            "types": [m.event_type for m in messages],
            "payloads": [m.payload for m in messages],
        },
    )
