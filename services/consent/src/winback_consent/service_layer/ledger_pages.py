"""The customer's ledger as the console pages through it: grants with evidence, revocations, objections, uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import ledger_pages, repository
from winback_consent.service_layer.customers import UnknownCustomer, entry_view


class InvalidBefore(ValueError):
    """`before` is not a next_before this API issued."""


def _before_seq(before: str | None) -> int | None:
    if before is None:
        return None
    if not before.isdigit() or len(before) > 9:
        raise InvalidBefore(f"before {before[:40]!r} is not a next_before this API issued")
    return int(before)


async def ledger_page(
    sessions: async_sessionmaker[AsyncSession],
    customer_id: str,
    *,
    limit: int,
    before: str | None,
    entry_types: Sequence[str],
) -> dict[str, Any]:
    """Newest first; `next_before` names the last entry shown (None on the last page). UnknownCustomer: 404."""
    before_seq = _before_seq(before)
    async with sessions() as session:
        entries = await ledger_pages.ledger_page(
            session, customer_id, before_seq=before_seq, entry_types=entry_types, limit=limit + 1
        )
        # An objection is recorded even for an id consent has not seen: its entries make it known here.
        unknown = not entries and not await repository.is_known(session, customer_id)
        if unknown and not await ledger_pages.has_entries(session, customer_id):
            raise UnknownCustomer(customer_id)
    shown = entries[:limit]
    more = len(entries) > limit
    return {
        "customer_id": customer_id,
        "items": [entry_view(e) for e in shown],
        "next_before": str(shown[-1].seq) if more and shown else None,
    }
