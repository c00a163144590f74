"""Appending to the per-customer chains inside the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from winback_consent.adapters import repository
from winback_consent.domain.ledger import ChainHead, LedgerDraft, LedgerEntry, append


async def append_drafts(
    session: AsyncSession,
    drafts: Sequence[LedgerDraft],
    recorded_at: datetime,
    *,
    locked: dict[str, ChainHead] | None = None,
    into_snapshots: bool = False,
) -> list[LedgerEntry]:
    """Chain the drafts per customer (in the given order) onto the locked heads and insert them.

    `into_snapshots`: see `repository.append_entries` (only for entries that change nothing else).
    """
    if not drafts:
        return []
    by_customer: dict[str, list[LedgerDraft]] = defaultdict(list)
    for draft in drafts:
        by_customer[draft.customer_id].append(draft)
    heads = dict(locked or {})
    missing = [c for c in by_customer if c not in heads]
    heads.update(await repository.lock_heads(session, missing))
    entries: list[LedgerEntry] = []
    moved: dict[str, ChainHead] = {}
    for customer_id, group in by_customer.items():
        chained, moved[customer_id] = append(heads[customer_id], group, recorded_at)
        entries.extend(chained)
    await repository.append_entries(session, entries, moved, into_snapshots=into_snapshots)
    return entries
