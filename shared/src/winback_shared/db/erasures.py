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


async def hold_erasure_gate(session: AsyncSession, table: Table, *, exclusive: bool) -> None:
    """Serialise erasures against writers of customer data, until the caller's transaction ends.

    Writers (consumer batches) hold the service's gate shared from their tombstone check to their
    commit; an erasure holds it exclusively. So either the batch commits first and the erasure then
    deletes what it wrote, or the erasure commits first and the batch's check sees the tombstone.
    Without it, a batch that checked just before an erasure committed could write the customer's
    history back afterwards. One lock per transaction: erasures are rare and only they wait (and,
    while one waits, the batches queued behind it). Take it before any row lock of the transaction.
    """
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(
        text(f"SELECT {function}(hashtextextended(:gate, 0))"), {"gate": f"winback-erasure:{table.fullname}"}
    )


async def record_erasures(
    session: AsyncSession, table: Table, key: bytes, erased: Iterable[tuple[str, datetime]]
) -> None:
    """Upsert tombstones under the exclusive gate; a redelivery changes nothing, a later erasure moves it forward."""
    latest: dict[str, datetime] = {}
    for customer_id, at in erased:
        digest = customer_digest(key, customer_id)
        latest[digest] = max(at, latest.get(digest, at))
    if not latest:
        return
    await hold_erasure_gate(session, table, exclusive=True)
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
    """The events to apply: those of erased customers dated up to their erasure are left out.

    Holds the erasure gate shared until the caller commits, so no erasure slips in between.
    """
    await hold_erasure_gate(session, table, exclusive=False)
    erased = await erasure_times(session, table, key, (c for e in events if (c := e.customer_id)))
    return without_erased_history(events, erased) if erased else list(events)
