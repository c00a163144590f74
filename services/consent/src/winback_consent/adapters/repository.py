"""All of consent's SQL: bulk writes for the consumer, snapshot reads for the decisions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, Select, String, bindparam, case, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from winback_consent.adapters.tables import (
    contract_events,
    customers,
    decision_snapshots,
    ledger,
    ledger_heads,
    orders,
    suppressions,
)
from winback_consent.domain.contacts import suppressions_by_channel
from winback_consent.domain.ledger import GENESIS_HASH, ChainHead, LedgerEntry
from winback_consent.domain.model import ContractEvent, CustomerKind, CustomerSnapshot, LedgerFact
from winback_consent.domain.translate import ProfileUpdate

CHUNK = 2_000


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def ensure_known(session: AsyncSession, known: dict[str, datetime], *, revive: bool = True) -> None:
    """Any customer event makes the customer known; `known_since` keeps the earliest event time.

    With `revive`, an erased customer counts as known again (a new event about them arrived).
    """
    rows = [{"customer_id": c, "known_since": t} for c, t in sorted(known.items())]
    for chunk in _chunks(rows):
        stmt = insert(customers).values(list(chunk))
        changes: dict[str, Any] = {"known_since": func.least(customers.c.known_since, stmt.excluded.known_since)}
        if revive:
            changes["erased_at"] = None
        stmt = stmt.on_conflict_do_update(index_elements=[customers.c.customer_id], set_=changes)
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
            email_hash=p.hashes.email,
            phone_hash=p.hashes.phone,
            fax_hash=p.hashes.fax,
            postal_hash=p.hashes.postal,
            profile_at=p.at,
            known_since=p.at,
        )
        newer = (customers.c.profile_at.is_(None)) | (stmt.excluded.profile_at >= customers.c.profile_at)

        def pick(name: str, newer: Any = newer, stmt: Any = stmt) -> Any:
            col, new = customers.c[name], stmt.excluded[name]
            return case((newer, func.coalesce(new, col)), else_=func.coalesce(col, new))

        def pick_hash(name: str, hashed: str, newer: Any = newer, stmt: Any = stmt) -> ColumnElement[Any]:
            # The hash follows whichever value `pick` keeps for its field.
            col, new = customers.c[hashed], stmt.excluded[hashed]
            takes_new = case((newer, stmt.excluded[name].is_not(None)), else_=customers.c[name].is_(None))
            return case((takes_new, new), else_=col)

        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[customers.c.customer_id],
                set_={
                    "kind": case((newer, stmt.excluded.kind), else_=customers.c.kind),
                    "email": pick("email"),
                    "phone": pick("phone"),
                    "fax": pick("fax"),
                    "postal_address": pick("postal_address"),
                    "email_hash": pick_hash("email", "email_hash"),
                    "phone_hash": pick_hash("phone", "phone_hash"),
                    "fax_hash": pick_hash("fax", "fax_hash"),
                    "postal_hash": pick_hash("postal_address", "postal_hash"),
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


def _snapshot_query() -> Select[Any]:
    """Built once: snapshot rows of a set of customers, each joined to the suppression entries of its hashes."""
    names = ("email", "phone", "fax", "postal")
    joined = {name: suppressions.alias(f"s_{name}") for name in names}
    query = select(
        decision_snapshots.c.customer_id,
        decision_snapshots.c.known,
        decision_snapshots.c.doc,
        *(alias.c.listed_at.label(name) for name, alias in joined.items()),
    ).select_from(decision_snapshots)
    for name, alias in joined.items():
        query = query.outerjoin(alias, alias.c.digest == decision_snapshots.c[f"{name}_hash"])
    return query.where(decision_snapshots.c.customer_id == func.any(bindparam("ids", type_=ARRAY(String))))


SNAPSHOTS = _snapshot_query()


async def load_snapshots(
    session: AsyncSession | AsyncConnection, customer_ids: Iterable[str]
) -> dict[str, CustomerSnapshot]:
    """One indexed query for all the customers of a batch: their snapshot rows and any suppression hits."""
    ids = sorted(set(customer_ids))
    rows = {r.customer_id: r for r in await session.execute(SNAPSHOTS, {"ids": ids})}
    return {c: _snapshot(c, rows.get(c)) for c in ids}


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _snapshot(customer_id: str, row: Row[Any] | None) -> CustomerSnapshot:
    if row is None or not row.known:
        return CustomerSnapshot(customer_id, known=False)
    listed = {name: getattr(row, name) for name in ("email", "phone", "fax", "postal") if getattr(row, name)}
    return snapshot_of(customer_id, facts_of(row.doc), listed)


class SnapshotFacts(NamedTuple):
    """The facts of one stored snapshot document, as the rules' types."""

    kind: CustomerKind
    entries: tuple[LedgerFact, ...]
    categories: dict[str, datetime]
    contract_events: tuple[ContractEvent, ...]
    order_times: tuple[datetime, ...]


def facts_of(doc: dict[str, Any]) -> SnapshotFacts:
    """The stored document (see `consent.refresh_snapshots`) parsed: instants, ledger facts, categories."""
    categories: dict[str, datetime] = {}
    order_times = []
    for placed, category in doc["orders"]:
        placed_at = _instant(placed)
        order_times.append(placed_at)
        if category and (category not in categories or placed_at < categories[category]):
            categories[category] = placed_at
    return SnapshotFacts(
        kind="business" if doc["kind"] == "business" else "consumer",
        entries=tuple(LedgerFact(i, seq, t, _instant(at), payload) for i, seq, t, at, payload in doc["ledger"]),
        categories=categories,
        contract_events=tuple(
            ContractEvent(c, kind, _instant(at), _instant(eff) if eff else None)
            for c, kind, at, eff in doc["contracts"]
        ),
        order_times=tuple(order_times),
    )


def snapshot_of(customer_id: str, facts: SnapshotFacts, listed: dict[str, datetime]) -> CustomerSnapshot:
    """A known customer's snapshot: the parsed facts and the suppression hits of its identifiers."""
    return CustomerSnapshot(
        customer_id,
        True,
        facts.kind,
        facts.entries,
        facts.categories,
        facts.contract_events,
        facts.order_times,
        suppressions_by_channel(listed),
    )


async def refresh_snapshots(session: AsyncSession, customer_ids: Iterable[str]) -> None:
    """Rebuild the decision snapshots; the caller holds the customers' ledger-head locks."""
    ids = sorted(set(customer_ids))
    if ids:
        await session.execute(text("SELECT consent.refresh_snapshots(CAST(:ids AS text[]))"), {"ids": ids})
