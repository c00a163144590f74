"""Suppression-list import and GDPR erasure (Art. 17), each one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import privacy, repository
from winback_consent.adapters.privacy import Suppression
from winback_consent.adapters.tables import erasures, outbox
from winback_consent.contract import CONTRACT
from winback_consent.domain.contacts import IMPORT_KIND, InvalidIdentifier, contact_hashes, hash_value, keyed_hash
from winback_consent.domain.contacts import normalise_email as _email
from winback_consent.domain.erasure import KEPT_AS_IS, tombstone_chain
from winback_consent.domain.ledger import ChainHead, LedgerEntry
from winback_consent.domain.translate import ConsentChange
from winback_consent.service_layer.consume import SOURCE, notify
from winback_shared.clock import Clock
from winback_shared.db.erasures import hold_erasure_gate, record_erasures
from winback_shared.db.outbox import enqueue
from winback_shared.events.produced import CustomerErased, CustomerErasedData
from winback_shared.settings import DEV_ERASURE_KEY


@dataclass(frozen=True, slots=True)
class ImportEntry:
    channel: str
    value: Any


@dataclass(frozen=True, slots=True)
class ImportResult:
    received: int
    added: int
    relisted: int


class InvalidEntries(ValueError):
    """Entries whose value is not an identifier of their channel; nothing was imported."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid entries")
        self.errors = errors


async def import_suppressions(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    hash_key: bytes,
    entries: Sequence[ImportEntry],
    list_name: str | None,
) -> ImportResult:
    """Normalise and hash every entry (all or nothing); only the keyed hashes are stored."""
    now = clock.now()
    rows: list[Suppression] = []
    errors: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        kind = IMPORT_KIND[entry.channel]
        try:
            rows.append(Suppression(hash_value(hash_key, kind, entry.value), kind, "import", now, list_name))
        except InvalidIdentifier as exc:
            # The message names the position only: the value is personal data and would reach logs.
            errors.append({"index": index, "channel": entry.channel, "detail": str(exc)})
    if errors:
        raise InvalidEntries(errors)
    async with sessions.begin() as session:
        added = await privacy.add_suppressions(session, rows)
    unique = len({r.digest for r in rows})
    return ImportResult(received=len(entries), added=added, relisted=unique - added)


class NotFound(LookupError):
    """Consent has never seen this customer id."""


@dataclass(frozen=True, slots=True)
class ErasureResult:
    customer_id: str
    erased_at: str
    suppressed: list[str]
    ledger_entries: int


def erased_event(customer_id: str, erasure_id: str, erased_at: datetime) -> CustomerErased:
    """`customer.erased`, id derived from the ledger's erasure entry: one erasure, one event."""
    data = CustomerErasedData(customer_id=customer_id, erased_at=erased_at)
    return CustomerErased.new(
        source=SOURCE, time=erased_at, data=data, id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"erased:{erasure_id}"))
    )


def _already_erased(profile: privacy.ErasableProfile | None, entries: Sequence[LedgerEntry]) -> bool:
    """Erased, and nothing recorded since: a second DELETE finds nothing left to erase."""
    return profile is not None and profile.erased and all(e.entry_type in KEPT_AS_IS for e in entries)


def _previous(customer_id: str, profile: privacy.ErasableProfile, entries: Sequence[LedgerEntry]) -> ErasureResult:
    last = next((e for e in reversed(entries) if e.entry_type == "erasure"), None)
    kinds = sorted(set(last.payload.get("suppressed", []))) if last is not None else []
    assert profile.erased_at is not None
    return ErasureResult(customer_id, profile.erased_at.isoformat(), kinds, len(entries))


async def erase(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    hash_key: bytes,
    customer_id: str,
    erasure_key: bytes = DEV_ERASURE_KEY.encode(),
) -> ErasureResult:
    """Delete profile, addresses, purchases and evidence; keep keyed hashes on the suppression list.

    `customer.erased` goes out through the outbox in the same transaction, so every other service
    erases too; a repeated erasure with nothing new since answers the first one and changes nothing.
    """
    now = clock.now()
    async with sessions.begin() as session:
        # The gate before the chain head: the consumer takes them in this order too (no deadlock).
        await hold_erasure_gate(session, erasures, exclusive=True)
        await repository.lock_heads(session, [customer_id])
        profile = await privacy.profile_for_erasure(session, customer_id)
        entries, head = await repository.ledger_of(session, customer_id)
        if profile is None and not entries:
            raise NotFound(customer_id)
        if _already_erased(profile, entries):
            assert profile is not None
            return _previous(customer_id, profile, entries)
        listed = _identifiers(hash_key, profile, now) if profile else []
        await privacy.add_suppressions(session, listed)
        chain, new_head = tombstone_chain(
            entries,
            head or ChainHead(),
            customer_id=customer_id,
            erasure_id=str(uuid.uuid4()),
            erased_at=now,
            suppressed=[s.kind for s in listed],
        )
        await privacy.replace_ledger(session, customer_id, chain, new_head)
        if profile is not None:
            await privacy.erase_personal_data(session, customer_id, now)
        await repository.refresh_snapshots(session, [customer_id])
        change = ConsentChange(str(uuid.uuid5(uuid.NAMESPACE_URL, chain[-1].id)), customer_id, "all", "suppressed", now)
        await notify(session, [change])
        await record_erasures(session, erasures, erasure_key, [(customer_id, now)])
        erased = erased_event(customer_id, chain[-1].id, now)
        await enqueue(session, outbox, [CONTRACT.message(erased)])
    return ErasureResult(customer_id, now.isoformat(), sorted({s.kind for s in listed}), len(chain))


def _identifiers(hash_key: bytes, profile: privacy.ErasableProfile, now: Any) -> list[Suppression]:
    """The erased customer's identifiers as suppression entries (stored hashes and freshly computed ones)."""
    fresh = contact_hashes(hash_key, profile.email, profile.phone, profile.fax, profile.postal_address)
    digests: dict[str, str] = dict((h, k) for k, h in fresh.present())
    stored_kinds = ("email", "phone", "phone", "postal")
    digests.update((h, k) for k, h in zip(stored_kinds, profile.hashes, strict=True) if h and h not in digests)
    for email in profile.doi_emails:
        try:
            digests.setdefault(keyed_hash(hash_key, "email", _email(email)), "email")
        except InvalidIdentifier:
            continue
    return [Suppression(h, k, "erasure", now) for h, k in digests.items()]
