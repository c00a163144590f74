"""The per-service tombstones of erased customers (keyed hash of the id and the erasure time)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_shared.erasure import customer_digest, without_erased_history
from winback_shared.events.envelope import CloudEvent

E = TypeVar("E", bound=CloudEvent)


def erasures_table(metadata: MetaData) -> Table:
    return Table(
        "erasures",
        metadata,
        # HMAC-SHA256(WINBACK_ERASURE_KEY, customer_id) in hex: the plain id is never stored.
        Column("customer_digest", String(64), primary_key=True),
        Column("erased_at", DateTime(timezone=True), nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def record_erasures(
    session: AsyncSession, table: Table, key: bytes, erased: Iterable[tuple[str, datetime]]
) -> None:
    """Upsert tombstones; a redelivered erasure changes nothing, a later one moves `erased_at` forward."""
    latest: dict[str, datetime] = {}
    for customer_id, at in erased:
        digest = customer_digest(key, customer_id)
        latest[digest] = max(at, latest.get(digest, at))
    if not latest:
        return
    digests = sorted(latest)
    await session.execute(
        text(
            f"INSERT INTO {table.fullname} (customer_digest, erased_at) "
            "SELECT * FROM unnest(CAST(:digests AS varchar[]), CAST(:times AS timestamptz[])) "
            "ON CONFLICT (customer_digest) DO UPDATE "
            f"SET erased_at = greatest({table.name}.erased_at, excluded.erased_at)"
        ),
        {"digests": digests, "times": [latest[d] for d in digests]},
    )


async def erasure_times(
    session: AsyncSession, table: Table, key: bytes, customer_ids: Iterable[str]
) -> dict[str, datetime]:
    """The erasure time of each of these customers that has a tombstone, by plain id (in memory only)."""
    by_digest = {customer_digest(key, c): c for c in set(customer_ids)}
    if not by_digest:
        return {}
    rows = await session.execute(
        text(
            f"SELECT customer_digest, erased_at FROM {table.fullname} "
            "WHERE customer_digest = ANY(CAST(:digests AS varchar[]))"
        ),
        {"digests": sorted(by_digest)},
    )
    return {by_digest[row.customer_digest]: row.erased_at for row in rows}


async def drop_erased_history(session: AsyncSession, table: Table, key: bytes, events: Sequence[E]) -> list[E]:
    """The events to apply: those of erased customers dated up to their erasure are left out."""
    erased = await erasure_times(session, table, key, (e.customer_id for e in events if e.customer_id))
    return without_erased_history(events, erased) if erased else list(events)
