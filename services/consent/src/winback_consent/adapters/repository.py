"""All of consent's SQL: bulk writes for the consumer, snapshot reads for the decisions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, Select, String, bindparam, func, select, text
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


_KNOWN = (
    "INSERT INTO consent.customers AS c (customer_id, known_since) "
    "SELECT u.id, u.at FROM unnest(CAST(:ids AS text[]), CAST(:at AS timestamptz[])) AS u(id, at) ORDER BY u.id "
    "ON CONFLICT (customer_id) DO UPDATE SET known_since = LEAST(c.known_since, EXCLUDED.known_since)"
)
_KNOWN_REVIVING = text(f"{_KNOWN}, erased_at = NULL")
_KNOWN_KEEPING_ERASURE = text(_KNOWN)


async def ensure_known(session: AsyncSession, known: dict[str, datetime], *, revive: bool = True) -> None:
    """Any customer event makes the customer known; `known_since` keeps the earliest event time.

    With `revive`, an erased customer counts as known again (a new event about them arrived).
    """
    if known:
        ids = sorted(known)
        statement = _KNOWN_REVIVING if revive else _KNOWN_KEEPING_ERASURE
        await session.execute(statement, {"ids": ids, "at": [known[c] for c in ids]})


# "Later values win per field: an older event only fills fields still empty", for one row per
# customer. A field's hash follows whichever value the field keeps.
_NEWER = "(c.profile_at IS NULL OR EXCLUDED.profile_at >= c.profile_at)"
_CONTACT_FIELDS = (
    ("email", "email_hash"),
    ("phone", "phone_hash"),
    ("fax", "fax_hash"),
    ("postal_address", "postal_hash"),
)


def _pick(name: str) -> str:
    newer, older = f"COALESCE(EXCLUDED.{name}, c.{name})", f"COALESCE(c.{name}, EXCLUDED.{name})"
    return f"{name} = CASE WHEN {_NEWER} THEN {newer} ELSE {older} END"


def _pick_hash(name: str, hashed: str) -> str:
    takes_new = f"CASE WHEN {_NEWER} THEN EXCLUDED.{name} IS NOT NULL ELSE c.{name} IS NULL END"
    return f"{hashed} = CASE WHEN {takes_new} THEN EXCLUDED.{hashed} ELSE c.{hashed} END"


_UPSERT_PROFILES = text(
    "INSERT INTO consent.customers AS c (customer_id, kind, email, phone, fax, postal_address, email_hash, "
    "phone_hash, fax_hash, postal_hash, profile_at, known_since) "
    "SELECT u.customer_id, u.kind, u.email, u.phone, u.fax, CAST(u.postal AS jsonb), u.email_hash, u.phone_hash, "
    "u.fax_hash, u.postal_hash, u.at, u.at FROM unnest(CAST(:customer_id AS text[]), CAST(:kind AS text[]), "
    "CAST(:email AS text[]), CAST(:phone AS text[]), CAST(:fax AS text[]), CAST(:postal AS text[]), "
    "CAST(:email_hash AS text[]), CAST(:phone_hash AS text[]), CAST(:fax_hash AS text[]), "
    "CAST(:postal_hash AS text[]), CAST(:at AS timestamptz[])) AS u(customer_id, kind, email, phone, fax, postal, "
    "email_hash, phone_hash, fax_hash, postal_hash, at) ORDER BY u.customer_id "
    "ON CONFLICT (customer_id) DO UPDATE SET "
    f"kind = CASE WHEN {_NEWER} THEN EXCLUDED.kind ELSE c.kind END, "
    + ", ".join(_pick(name) for name, _ in _CONTACT_FIELDS)
    + ", "
    + ", ".join(_pick_hash(name, hashed) for name, hashed in _CONTACT_FIELDS)
    + ", profile_at = GREATEST(c.profile_at, EXCLUDED.profile_at)"
)


def _profile_rounds(profiles: Sequence[ProfileUpdate]) -> list[list[ProfileUpdate]]:
    """Round k holds each customer's k-th update in batch order: a statement may touch a row only once."""
    rounds: list[list[ProfileUpdate]] = []
    seen: dict[str, int] = {}
    for p in profiles:
        k = seen.get(p.customer_id, 0)
        seen[p.customer_id] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(p)
    return rounds


async def upsert_profiles(session: AsyncSession, profiles: Sequence[ProfileUpdate]) -> None:
    """Later values win per field; one array statement per round (usually one per batch)."""
    for batch in _profile_rounds(profiles):
        await session.execute(
            _UPSERT_PROFILES,
            {
                "customer_id": [p.customer_id for p in batch],
                "kind": [p.kind for p in batch],
                "email": [p.email for p in batch],
                "phone": [p.phone for p in batch],
                "fax": [p.fax for p in batch],
                "postal": [None if p.postal_address is None else json.dumps(p.postal_address) for p in batch],
                "email_hash": [p.hashes.email for p in batch],
                "phone_hash": [p.hashes.phone for p in batch],
                "fax_hash": [p.hashes.fax for p in batch],
                "postal_hash": [p.hashes.postal for p in batch],
                "at": [p.at for p in batch],
            },
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


_CREATE_HEADS = text(
    "INSERT INTO consent.ledger_heads (customer_id, seq, hash) "
    "SELECT u.id, 0, :genesis FROM unnest(CAST(:ids AS text[])) AS u(id) ORDER BY u.id ON CONFLICT DO NOTHING"
)
_CREATE_KNOWN_HEADS = text(
    "INSERT INTO consent.ledger_heads (customer_id, seq, hash) "
    "SELECT c.customer_id, 0, :genesis FROM consent.customers c WHERE c.customer_id = ANY(CAST(:ids AS text[])) "
    "ORDER BY c.customer_id ON CONFLICT DO NOTHING"
)
_HEADS_PRESENT = text("SELECT customer_id FROM consent.ledger_heads WHERE customer_id = ANY(CAST(:ids AS text[]))")
_LOCK_HEADS = text(
    "SELECT customer_id, seq, hash FROM consent.ledger_heads WHERE customer_id = ANY(CAST(:ids AS text[])) "
    "ORDER BY customer_id FOR UPDATE"
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
    # Heads exist for nearly every customer a batch names: creating all of them each time (an
    # INSERT .. ON CONFLICT over the whole batch) cost ~4 us per decision in PostgreSQL. A plain
    # read finds the missing ones; creating them before the one locking statement keeps the
    # order of before (create, then lock all in id order), so appenders still cannot deadlock.
    present = {r[0] for r in await session.execute(_HEADS_PRESENT, {"ids": ids})}
    missing = [c for c in ids if c not in present]
    if missing:
        create = _CREATE_KNOWN_HEADS if known_only else _CREATE_HEADS
        await session.execute(create, {"ids": missing, "genesis": GENESIS_HASH})
    rows = await session.execute(_LOCK_HEADS, {"ids": ids})
    return {r[0]: ChainHead(r[1], r[2]) for r in rows}


class HeadsMissing(Exception):
    """Known customers without a chain head: create the heads first (in a new transaction), then lock."""


_KNOWN_AMONG = text("SELECT customer_id FROM consent.customers WHERE customer_id = ANY(CAST(:ids AS text[])) LIMIT 1")


async def lock_existing_heads(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, ChainHead]:
    """`lock_heads(..., known_only=True)` in one statement when every known customer has a head.

    The one locking statement (id order) is the transaction's first: if a known customer turns out
    to have no head, `HeadsMissing` is raised, the caller rolls back (releasing these locks) and
    retries with `lock_heads`, which creates heads before locking. Creating them here, with locks
    already held, could deadlock against another appender creating the same heads.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    heads = {r[0]: ChainHead(r[1], r[2]) for r in await session.execute(_LOCK_HEADS, {"ids": ids})}
    if len(heads) < len(ids):
        missing = [c for c in ids if c not in heads]
        if (await session.execute(_KNOWN_AMONG, {"ids": missing})).first() is not None:
            raise HeadsMissing
    return heads


_INSERT_ENTRIES = text(
    "INSERT INTO consent.ledger (id, customer_id, seq, entry_type, occurred_at, recorded_at, payload, "
    "source_event, request_id, prev_hash, hash) "
    "SELECT u.id, u.customer_id, u.seq, u.entry_type, u.occurred_at, u.recorded_at, CAST(u.payload AS jsonb), "
    "u.source_event, u.request_id, u.prev_hash, u.hash FROM unnest(CAST(:id AS text[]), CAST(:customer_id AS text[]), "
    "CAST(:seq AS int[]), CAST(:entry_type AS text[]), CAST(:occurred_at AS timestamptz[]), "
    "CAST(:recorded_at AS timestamptz[]), CAST(:payload AS text[]), CAST(:source_event AS text[]), "
    "CAST(:request_id AS text[]), CAST(:prev_hash AS text[]), CAST(:hash AS text[])) "
    "AS u(id, customer_id, seq, entry_type, occurred_at, recorded_at, payload, source_event, request_id, prev_hash, "
    "hash)"
)
# A ledger entry's payload as the snapshot keeps it (`consent.refresh_snapshots`, migration 0007): a
# use keeps only its evidence ids, all the rules read of it.
SNAPSHOT_PAYLOAD = (
    "CASE WHEN entry_type = 'use' AND payload ? 'evidence_ids' "
    "THEN jsonb_build_object('evidence_ids', payload -> 'evidence_ids') ELSE payload END"
)
# The same insert, adding the entries to the end of their customers' stored snapshots in the same
# statement: what the full rebuild would give (the same expression over the same values, in seq
# order, and new entries carry their chain's highest seq), without re-aggregating every ledger row,
# order and contract of the customer, which was half of PostgreSQL's time per dispatched decision.
_INSERT_ENTRIES_INTO_SNAPSHOTS = text(
    "WITH appended AS (" + _INSERT_ENTRIES.text + " RETURNING id, customer_id, seq, entry_type, occurred_at, payload) "
    "UPDATE consent.decision_snapshots s SET doc = jsonb_set(s.doc, '{ledger}', (s.doc -> 'ledger') || a.entries) "
    "FROM (SELECT customer_id, "
    "jsonb_agg(jsonb_build_array(id, seq, entry_type, occurred_at, " + SNAPSHOT_PAYLOAD + ") ORDER BY seq) AS entries "
    "FROM appended GROUP BY customer_id) AS a "
    "WHERE s.customer_id = a.customer_id AND s.known RETURNING s.customer_id"
)
_MOVE_HEADS = text(
    "UPDATE consent.ledger_heads h SET seq = u.seq, hash = u.hash "
    "FROM unnest(CAST(:ids AS text[]), CAST(:seq AS int[]), CAST(:hash AS text[])) AS u(id, seq, hash) "
    "WHERE h.customer_id = u.id"
)


async def append_entries(
    session: AsyncSession,
    entries: Sequence[LedgerEntry],
    heads: dict[str, ChainHead],
    *,
    into_snapshots: bool = False,
) -> None:
    """Insert chained entries and move the heads (one array statement each); the caller holds the head locks.

    `into_snapshots` also adds the entries to their customers' decision snapshots, for entries that
    change nothing else a snapshot derives from (a dispatched decision's `use`); a customer without
    a stored snapshot is rebuilt in full.
    """
    if not entries:
        return
    result = await session.execute(
        _INSERT_ENTRIES_INTO_SNAPSHOTS if into_snapshots else _INSERT_ENTRIES,
        {
            "id": [e.id for e in entries],
            "customer_id": [e.customer_id for e in entries],
            "seq": [e.seq for e in entries],
            "entry_type": [e.entry_type for e in entries],
            "occurred_at": [e.occurred_at for e in entries],
            "recorded_at": [e.recorded_at for e in entries],
            "payload": [e.payload_json if e.payload_json is not None else json.dumps(e.payload) for e in entries],
            "source_event": [e.source_event for e in entries],
            "request_id": [e.request_id for e in entries],
            "prev_hash": [e.prev_hash for e in entries],
            "hash": [e.hash for e in entries],
        },
    )
    ids = sorted(heads)
    await session.execute(
        _MOVE_HEADS, {"ids": ids, "seq": [heads[c].seq for c in ids], "hash": [heads[c].hash for c in ids]}
    )
    if into_snapshots:
        added = {r.customer_id for r in result}
        await refresh_snapshots(session, (e.customer_id for e in entries if e.customer_id not in added))


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
    rows = await session.execute(_RECORDED_REQUESTS, {"ids": ids})
    return {r.request_id for r in rows}


# One array parameter instead of an expanded IN list of up to 1,000 ids.
_RECORDED_REQUESTS = text("SELECT request_id FROM consent.ledger WHERE request_id = ANY(CAST(:ids AS text[]))")


# Which of the named events the consumer has applied (its inbox), one statement over two arrays.
APPLIED_EVENTS_SQL = (
    "SELECT p.source, p.event_id FROM consent.processed_events AS p "
    "JOIN unnest(CAST($1 AS varchar[]), CAST($2 AS varchar[])) AS u(source, event_id) "
    "ON p.source = u.source AND p.event_id = u.event_id"
)
_APPLIED_EVENTS = text(APPLIED_EVENTS_SQL.replace("$1", ":sources").replace("$2", ":ids"))


async def applied_events(
    session: AsyncSession | AsyncConnection, refs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The `(source, id)` pairs among `refs` that this service's consumer has applied."""
    keys = sorted(set(refs))
    if not keys:
        return set()
    rows = await session.execute(_APPLIED_EVENTS, {"sources": [s for s, _ in keys], "ids": [i for _, i in keys]})
    return {(r.source, r.event_id) for r in rows}


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
    rows = {r[0]: r for r in await session.execute(SNAPSHOTS, {"ids": ids})}
    return {c: _snapshot(c, rows.get(c)) for c in ids}


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


_LISTED = ("email", "phone", "fax", "postal")  # SNAPSHOTS' columns 3-6, in this order


def _snapshot(customer_id: str, row: Sequence[Any] | None) -> CustomerSnapshot:
    # By position: a Row's attribute lookup by name cost ~5 us per decision (8 per row, py-spy).
    if row is None or not row[1]:
        return CustomerSnapshot(customer_id, known=False)
    listed = {name: at for name, at in zip(_LISTED, row[3:7], strict=True) if at}
    return snapshot_of(customer_id, facts_of(row[2]), listed)


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
