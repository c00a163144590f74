"""Suppression-list import and GDPR erasure (Art. 17), each one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import privacy, repository
from winback_consent.adapters.privacy import Suppression
from winback_consent.domain.contacts import IMPORT_KIND, InvalidIdentifier, contact_hashes, hash_value, keyed_hash
from winback_consent.domain.contacts import normalise_email as _email
from winback_consent.domain.erasure import tombstone_chain
from winback_consent.domain.ledger import ChainHead
from winback_consent.domain.translate import ConsentChange
from winback_consent.service_layer.consume import notify
from winback_shared.clock import Clock


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


async def erase(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, hash_key: bytes, customer_id: str
) -> ErasureResult:
    """Delete profile, addresses, purchases and evidence; keep keyed hashes on the suppression list."""
    now = clock.now()
    async with sessions.begin() as session:
        await repository.lock_heads(session, [customer_id])
        profile = await privacy.profile_for_erasure(session, customer_id)
        entries, head = await repository.ledger_of(session, customer_id)
        if profile is None and not entries:
            raise NotFound(customer_id)
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
