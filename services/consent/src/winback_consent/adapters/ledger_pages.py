"""Read-side SQL of the ledger for the console: one customer's entries, newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from winback_consent.adapters.repository import _entry
from winback_consent.adapters.tables import ledger
from winback_consent.domain.ledger import LedgerEntry


async def ledger_page(
    session: AsyncSession, customer_id: str, *, before_seq: int | None, entry_types: Sequence[str], limit: int
) -> list[LedgerEntry]:
    """Entries with seq below `before_seq` (all when None), of the given types (all when empty), newest first."""
    stmt = select(ledger).where(ledger.c.customer_id == customer_id)
    if before_seq is not None:
        stmt = stmt.where(ledger.c.seq < before_seq)
    if entry_types:
        stmt = stmt.where(ledger.c.entry_type.in_(list(entry_types)))
    rows = await session.execute(stmt.order_by(ledger.c.seq.desc()).limit(limit))
    return [_entry(r) for r in rows]


async def has_entries(session: AsyncSession, customer_id: str) -> bool:
    return (await session.scalar(select(ledger.c.id).where(ledger.c.customer_id == customer_id).limit(1))) is not None
