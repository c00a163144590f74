"""Transactional outbox: events are written with the state change, published by a relay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, DateTime, Identity, LargeBinary, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import insert
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
    """Add messages to the outbox inside the caller's transaction (one bulk statement)."""
    if not messages:
        return
    await session.execute(
        insert(table),
        [{"topic": m.topic, "key": m.key, "event_type": m.event_type, "payload": m.payload} for m in messages],
    )
