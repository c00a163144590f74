"""All of consent's SQL: bulk writes for the consumer, snapshot reads for the decisions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_consent.adapters.tables import contract_events, customers, ledger, ledger_heads, orders
from winback_consent.domain.ledger import GENESIS_HASH, ChainHead, LedgerEntry
from winback_consent.domain.model import ContractEvent, CustomerSnapshot
from winback_consent.domain.translate import ProfileUpdate

CHUNK = 2_000


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def ensure_known(session: AsyncSession, known: dict[str, datetime]) -> None:
    """Any customer event makes the customer known; `known_since` keeps the earliest event time."""
    rows = [{"customer_id": c, "known_since": t} for c, t in sorted(known.items())]
    for chunk in _chunks(rows):
        stmt = insert(customers).values(list(chunk))
        stmt = stmt.on_conflict_do_update(
            index_elements=[customers.c.customer_id],
            set_={"known_since": func.least(customers.c.known_since, stmt.excluded.known_since)},
        )
        await session.execute(stmt)


async def upsert_profiles(session: AsyncSession, profiles: Sequence[ProfileUpdate]) -> None:
    """Later values win per field: an older event only fills fields still empty."""
    for p in profiles:  # usually few per batch; per-row order matters for "later wins"
        stmt = insert(customers).values(
            customer_id=p.customer_id,
            kind=p.kind,
            email=p.email,
            phone=p.phone,
            fax=p.fax,
            postal_address=p.postal_address,
            profile_at=p.at,
            known_since=p.at,
        )
        newer = (customers.c.profile_at.is_(None)) | (stmt.excluded.profile_at >= customers.c.profile_at)

        def pick(name: str, newer: Any = newer, stmt: Any = stmt) -> Any:
            col, new = customers.c[name], stmt.excluded[name]
            return case((newer, func.coalesce(new, col)), else_=func.coalesce(col, new))

        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[customers.c.customer_id],
                set_={
                    "kind": case((newer, stmt.excluded.kind), else_=customers.c.kind),
                    "email": pick("email"),
                    "phone": pick("phone"),
                    "fax": pick("fax"),
                    "postal_address": pick("postal_address"),
                    "profile_at": func.greatest(customers.c.profile_at, stmt.excluded.profile_at),
                },
            )
        )


async def add_orders(session: AsyncSession, rows: Sequence[tuple[str, str, datetime, str | None]]) -> None:
    values = [{"customer_id": c, "order_id": o, "placed_at": t, "category": cat} for c, o, t, cat in rows]
    for chunk in _chunks(values):
        await session.execute(insert(orders).values(list(chunk)).on_conflict_do_nothing())


async def add_contract_events(session: AsyncSession, rows: Sequence[tuple[str, ContractEvent]]) -> None:
    if rows:
        await session.execute(
            insert(contract_events),
            [
                {
                    "customer_id": c,
                    "contract_id": e.contract_id,
                    "kind": e.kind,
                    "occurred_at": e.occurred_at,
                    "effective_at": e.effective_at,
                }
                for c, e in rows
            ],
        )


async def lock_heads(
    session: AsyncSession, customer_ids: Iterable[str], *, known_only: bool = False
) -> dict[str, ChainHead]:
    """Lock the chain heads (in id order, so concurrent appenders cannot deadlock).

    With `known_only`, heads are created only for customers in `customers`, so decisions about
    unknown ids leave nothing behind.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    if known_only:
        source = select(customers.c.customer_id, literal(0), literal(GENESIS_HASH)).where(
            customers.c.customer_id.in_(ids)
        )
        create = insert(ledger_heads).from_select(["customer_id", "seq", "hash"], source)
    else:
        create = insert(ledger_heads).values([{"customer_id": c, "seq": 0, "hash": GENESIS_HASH} for c in ids])
    await session.execute(create.on_conflict_do_nothing())
    rows = await session.execute(
        select(ledger_heads)
        .where(ledger_heads.c.customer_id.in_(ids))
        .order_by(ledger_heads.c.customer_id)
        .with_for_update()
    )
    return {r.customer_id: ChainHead(r.seq, r.hash) for r in rows}


async def append_entries(session: AsyncSession, entries: Sequence[LedgerEntry], heads: dict[str, ChainHead]) -> None:
    """Insert chained entries and move the heads; the caller holds the head locks."""
    if not entries:
        return
    await session.execute(insert(ledger), [_entry_row(e) for e in entries])
    await session.execute(
        update(ledger_heads)
        .where(ledger_heads.c.customer_id == bindparam("cid"))
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")),
        [{"cid": c, "new_seq": h.seq, "new_hash": h.hash} for c, h in heads.items()],
    )


def _entry_row(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "customer_id": e.customer_id,
        "seq": e.seq,
        "entry_type": e.entry_type,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "payload": e.payload,
        "source_event": e.source_event,
        "request_id": e.request_id,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def _entry(r: Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        id=r.id,
        customer_id=r.customer_id,
        seq=r.seq,
        entry_type=r.entry_type,
        occurred_at=r.occurred_at,
        recorded_at=r.recorded_at,
        payload=r.payload,
        source_event=r.source_event,
        request_id=r.request_id,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


async def recorded_requests(session: AsyncSession, request_ids: Iterable[str]) -> set[str]:
    """Which dispatch request ids already have their use recorded."""
    ids = sorted(set(request_ids))
    if not ids:
        return set()
    rows = await session.execute(select(ledger.c.request_id).where(ledger.c.request_id.in_(ids)))
    return {r.request_id for r in rows}


async def ledger_of(session: AsyncSession, customer_id: str) -> tuple[list[LedgerEntry], ChainHead | None]:
    rows = await session.execute(select(ledger).where(ledger.c.customer_id == customer_id).order_by(ledger.c.seq))
    head = (await session.execute(select(ledger_heads).where(ledger_heads.c.customer_id == customer_id))).first()
    return [_entry(r) for r in rows], ChainHead(head.seq, head.hash) if head else None


async def is_known(session: AsyncSession, customer_id: str) -> bool:
    row = await session.scalar(
        select(customers.c.customer_id).where(customers.c.customer_id == customer_id, customers.c.erased_at.is_(None))
    )
    return row is not None


async def load_snapshots(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, CustomerSnapshot]:
    """One query per table for all the customers of a batch of decisions."""
    ids = sorted(set(customer_ids))
    profiles = {
        r.customer_id: r
        for r in await session.execute(
            select(customers.c.customer_id, customers.c.kind).where(
                customers.c.customer_id.in_(ids), customers.c.erased_at.is_(None)
            )
        )
    }
    entries: dict[str, list[LedgerEntry]] = defaultdict(list)
    for r in await session.execute(select(ledger).where(ledger.c.customer_id.in_(ids)).order_by(ledger.c.seq)):
        entries[r.customer_id].append(_entry(r))
    categories: dict[str, dict[str, datetime]] = defaultdict(dict)
    order_times: dict[str, list[datetime]] = defaultdict(list)
    for r in await session.execute(select(orders).where(orders.c.customer_id.in_(ids))):
        order_times[r.customer_id].append(r.placed_at)
        if r.category:
            known = categories[r.customer_id].get(r.category)
            categories[r.customer_id][r.category] = min(known, r.placed_at) if known else r.placed_at
    contracts: dict[str, list[ContractEvent]] = defaultdict(list)
    for r in await session.execute(select(contract_events).where(contract_events.c.customer_id.in_(ids))):
        contracts[r.customer_id].append(ContractEvent(r.contract_id, r.kind, r.occurred_at, r.effective_at))
    return {
        c: CustomerSnapshot(
            customer_id=c,
            known=c in profiles,
            kind="business" if c in profiles and profiles[c].kind == "business" else "consumer",
            entries=tuple(e.as_fact() for e in entries[c]),
            categories=categories[c],
            contract_events=tuple(contracts[c]),
            order_times=tuple(order_times[c]),
        )
        for c in ids
    }
