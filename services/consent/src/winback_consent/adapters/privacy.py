"""SQL of the suppression list and of GDPR erasure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_consent.adapters.repository import CHUNK, append_entries
from winback_consent.adapters.tables import (
    contract_events,
    customers,
    doi_requests,
    ledger,
    orders,
    suppressions,
)
from winback_consent.domain.ledger import ChainHead, LedgerEntry


@dataclass(frozen=True, slots=True)
class Suppression:
    digest: str
    kind: str
    source: str
    listed_at: datetime
    list_name: str | None = None


async def add_suppressions(session: AsyncSession, entries: Sequence[Suppression]) -> int:
    """Insert or re-list; returns how many digests were new. A re-listing moves `listed_at` forward."""
    unique = {e.digest: e for e in entries}
    rows = [
        {"digest": e.digest, "kind": e.kind, "source": e.source, "list_name": e.list_name, "listed_at": e.listed_at}
        for e in unique.values()
    ]
    new = 0
    for start in range(0, len(rows), CHUNK):
        stmt = insert(suppressions).values(rows[start : start + CHUNK])
        upsert = stmt.on_conflict_do_update(
            index_elements=[suppressions.c.digest],
            set_={"listed_at": func.greatest(suppressions.c.listed_at, stmt.excluded.listed_at)},
        ).returning(suppressions.c.digest, literal_column("(xmax = 0)").label("inserted"))
        # xmax is 0 on a freshly inserted row version, set on one the conflict clause updated.
        new += sum(1 for r in await session.execute(upsert) if r.inserted)
    return new


async def carry_legacy_listings(session: AsyncSession, pairs: Sequence[tuple[str, str, str]]) -> int:
    """Copy each listing stored under a scheme-1 hash to the current hash of the same raw value.

    `pairs` are (kind, scheme-1 hash, current hash). The copy keeps source, list and listing time; a
    listing the current hash already has is left as it is. Returns how many listings were copied.
    """
    unique = sorted({(old, new) for _, old, new in pairs})
    copied = 0
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        result = await session.execute(
            text(
                "INSERT INTO consent.suppressions (digest, kind, source, list_name, listed_at) "
                "SELECT p.new, s.kind, s.source, s.list_name, s.listed_at "
                "FROM unnest(CAST(:old AS text[]), CAST(:new AS text[])) AS p(old, new) "
                "JOIN consent.suppressions s ON s.digest = p.old "
                "ON CONFLICT (digest) DO NOTHING"
            ),
            {"old": [o for o, _ in chunk], "new": [n for _, n in chunk]},
        )
        copied += int(getattr(result, "rowcount", 0) or 0)
    return copied


@dataclass(frozen=True, slots=True)
class ErasableProfile:
    email: str | None
    phone: str | None
    fax: str | None
    postal_address: dict[str, Any] | None
    hashes: tuple[str | None, ...]
    erased_at: datetime | None
    doi_emails: tuple[str, ...]

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


async def profile_for_erasure(session: AsyncSession, customer_id: str) -> ErasableProfile | None:
    row = (await session.execute(select(customers).where(customers.c.customer_id == customer_id))).first()
    if row is None:
        return None
    emails = await session.scalars(select(doi_requests.c.email).where(doi_requests.c.customer_id == customer_id))
    return ErasableProfile(
        email=row.email,
        phone=row.phone,
        fax=row.fax,
        postal_address=row.postal_address,
        hashes=(row.email_hash, row.phone_hash, row.fax_hash, row.postal_hash),
        erased_at=row.erased_at,
        doi_emails=tuple(emails),
    )


async def erase_personal_data(session: AsyncSession, customer_id: str, erased_at: datetime) -> None:
    """Profile and addresses blanked (the row stays as the `erased` marker), purchases and DOIs deleted."""
    await session.execute(
        update(customers)
        .where(customers.c.customer_id == customer_id)
        .values(
            kind="consumer",
            email=None,
            phone=None,
            fax=None,
            postal_address=None,
            email_hash=None,
            phone_hash=None,
            fax_hash=None,
            postal_hash=None,
            profile_at=None,
            erased_at=erased_at,
        )
    )
    for table in (orders, contract_events, doi_requests):
        await session.execute(delete(table).where(table.c.customer_id == customer_id))


async def replace_ledger(
    session: AsyncSession, customer_id: str, entries: Sequence[LedgerEntry], head: ChainHead
) -> None:
    """Swap the customer's chain for its tombstone chain (DELETE is allowed, UPDATE is not)."""
    await session.execute(delete(ledger).where(ledger.c.customer_id == customer_id))
    await append_entries(session, entries, {customer_id: head})
