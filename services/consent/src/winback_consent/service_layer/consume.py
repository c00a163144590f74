"""The consumer of `winback.events`: one transaction per batch, idempotent on `(source, id)`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import privacy, repository
from winback_consent.adapters.tables import erasures, outbox, processed_events
from winback_consent.contract import CONTRACT
from winback_consent.domain.contacts import contact_hashes, legacy_pairs
from winback_consent.domain.translate import BatchChanges, ConsentChange, translate
from winback_consent.service_layer.ledger import append_drafts
from winback_shared.clock import Clock
from winback_shared.db.erasures import drop_erased_history
from winback_shared.db.inbox import claim_unprocessed
from winback_shared.db.outbox import enqueue
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import ConsentChanged, ConsentChangedData
from winback_shared.settings import DEV_ERASURE_KEY

SOURCE = "/winback/consent"


def changed_event(change: ConsentChange) -> ConsentChanged:
    data = ConsentChangedData(customer_id=change.customer_id, channel=change.channel, state=change.state, at=change.at)
    return ConsentChanged.new(source=SOURCE, time=change.at, data=data, id=change.id)


async def notify(session: AsyncSession, changes: Sequence[ConsentChange]) -> None:
    """`consent.changed` goes out through the outbox, committed with the ledger entries."""
    await enqueue(session, outbox, [CONTRACT.message(changed_event(c)) for c in changes])


def with_hashes(changes: BatchChanges, hash_key: bytes) -> list[tuple[str, str, str]]:
    """Profiles carry the keyed hashes of their identifiers, matched against the suppression list.

    Returns the (kind, scheme-1 hash, current hash) pairs whose listings must be carried over.
    """
    changes.profiles = [
        dataclasses.replace(p, hashes=contact_hashes(hash_key, p.email, p.phone, p.fax, p.postal_address))
        for p in changes.profiles
    ]
    return [pair for p in changes.profiles for pair in legacy_pairs(hash_key, p.email, p.phone, p.fax)]


async def apply_events(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    events: Sequence[CloudEvent],
    hash_key: bytes,
    erasure_key: bytes = DEV_ERASURE_KEY.encode(),
) -> int:
    """Apply a batch; returns how many `consent.changed` were enqueued."""
    async with sessions.begin() as session:
        claimed = await claim_unprocessed(session, processed_events, events)
        # An erased customer's history (a replay, a late event) stays erased; a later event starts anew.
        fresh = await drop_erased_history(session, erasures, erasure_key, claimed)
        changes = translate(fresh)
        carried = with_hashes(changes, hash_key)
        # Lock every touched customer's chain head first: it serialises all writers of a customer,
        # so the snapshot rebuilt at the end sees every committed change (see refresh_snapshots).
        heads = await repository.lock_heads(session, changes.known)
        await repository.ensure_known(session, changes.known)
        await repository.upsert_profiles(session, changes.profiles)
        # A listing made under the old normalisation follows the raw value to its current hash.
        await privacy.carry_legacy_listings(session, carried)
        await repository.add_orders(session, changes.orders)
        await repository.add_contract_events(session, changes.contracts)
        await append_drafts(session, changes.drafts, clock.now(), locked=heads)
        await repository.refresh_snapshots(session, changes.known)
        await notify(session, changes.changes)
    return len(changes.changes)
