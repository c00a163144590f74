"""Ops views and commands on one customer: consents, ledger verification, objections."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import repository
from winback_consent.domain.ledger import LedgerDraft, LedgerEntry, VerifyResult, verify_chain
from winback_consent.domain.model import Policy
from winback_consent.domain.overview import channel_overview
from winback_consent.domain.translate import ConsentChange
from winback_consent.service_layer.consume import notify
from winback_consent.service_layer.ledger import append_drafts
from winback_shared.clock import Clock


class UnknownCustomer(LookupError):
    """No customer event and no ledger entry for this id (or it was erased)."""


def entry_view(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "seq": e.seq,
        "entry_type": e.entry_type,
        "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(),
        "payload": e.payload,
        "source_event": e.source_event,
        "request_id": e.request_id,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


async def consents(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, policy: Policy, customer_id: str
) -> dict[str, Any]:
    """Current state per channel with basis and expiry, the objections, and the full ledger."""
    now = clock.now()
    async with sessions.begin() as session:
        snapshot = (await repository.load_snapshots(session, [customer_id]))[customer_id]
        entries, _ = await repository.ledger_of(session, customer_id)
    if not snapshot.known:
        raise UnknownCustomer(customer_id)
    objections = [entry_view(e) for e in entries if e.entry_type in ("objection", "no_contact")]
    return {
        "customer_id": customer_id,
        "kind": snapshot.kind,
        "as_of": now.isoformat(),
        "channels": channel_overview(snapshot, policy, now),
        "objections": objections,
        "ledger": [entry_view(e) for e in entries],
    }


async def verify(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> VerifyResult:
    async with sessions.begin() as session:
        entries, head = await repository.ledger_of(session, customer_id)
        if not entries and head is None and not await repository.is_known(session, customer_id):
            raise UnknownCustomer(customer_id)
    return verify_chain(entries, head)


async def record_objection(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    customer_id: str,
    channels: Sequence[str],
    note: str | None,
) -> LedgerEntry:
    """An objection received by phone, letter or in person: ledger entry plus `consent.changed`.

    Recorded even for an id consent has not seen yet, so a later import cannot be contacted.
    """
    now = clock.now()
    draft = LedgerDraft(
        id=str(uuid.uuid4()),
        customer_id=customer_id,
        entry_type="objection",
        occurred_at=now,
        payload={"channels": list(channels), "note": note, "origin": "ops"},
    )
    changes = [
        ConsentChange(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{draft.id}/{c}")), customer_id, c, "objected", now)
        for c in channels
    ]
    async with sessions.begin() as session:
        heads = await repository.lock_heads(session, [customer_id])
        # An erased customer stays erased: an objection is no new customer event.
        await repository.ensure_known(session, {customer_id: now}, revive=False)
        (entry,) = await append_drafts(session, [draft], now, locked=heads)
        await repository.refresh_snapshots(session, [customer_id])
        await notify(session, changes)
    return entry
