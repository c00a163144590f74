"""What each consumed event changes: profile, purchases, contracts, ledger drafts, outgoing notices."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from winback_consent.domain.contacts import ContactHashes
from winback_consent.domain.ledger import LedgerDraft
from winback_consent.domain.model import ALL_CHANNELS, ContractEvent
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import (
    CampaignResponse,
    ConsentGranted,
    ConsentRevoked,
    ContactObjected,
    ContractCancelled,
    ContractRenewed,
    ContractStarted,
    CustomerUpserted,
    OrderPlaced,
)

LEDGER_NAMESPACE = uuid.UUID("5b0f6a4e-4a53-4b7e-9d3c-2f1c6c0e7a11")
# An unsubscribe or complaint is an objection for the action's channel; the response names only the
# action, and consent does not read campaign's data, so it is recorded for e-mail, where those happen.
RESPONSE_OBJECTION_CHANNEL = "email"
OBJECTING_OUTCOMES = frozenset({"unsubscribed", "complained"})

ChangeState = Literal["granted", "revoked", "objected", "suppressed"]


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    customer_id: str
    at: datetime
    kind: str
    email: str | None
    phone: str | None
    fax: str | None
    postal_address: dict[str, Any] | None
    # Filled by the service layer, which holds the hash key.
    hashes: ContactHashes = field(default_factory=ContactHashes)


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """A `consent.changed` to publish; its id derives from the ledger entry so replays repeat it."""

    id: str
    customer_id: str
    channel: str
    state: ChangeState
    at: datetime


@dataclass(slots=True)
class BatchChanges:
    known: dict[str, datetime] = field(default_factory=dict)
    profiles: list[ProfileUpdate] = field(default_factory=list)
    orders: list[tuple[str, str, datetime, str | None]] = field(default_factory=list)
    contracts: list[tuple[str, ContractEvent]] = field(default_factory=list)
    drafts: list[LedgerDraft] = field(default_factory=list)
    changes: list[ConsentChange] = field(default_factory=list)


def entry_id(event: CloudEvent, n: int = 0) -> str:
    """Deterministic ledger id of the n-th entry an event produces."""
    return str(uuid.uuid5(LEDGER_NAMESPACE, f"{event.source}\x00{event.id}\x00{n}"))


def _draft(event: CloudEvent, customer_id: str, entry_type: Any, payload: dict[str, Any]) -> LedgerDraft:
    return LedgerDraft(
        id=entry_id(event),
        customer_id=customer_id,
        entry_type=entry_type,
        occurred_at=event.time,
        payload=payload,
        source_event=f"{event.source}#{event.id}",
    )


def _notify(changes: BatchChanges, draft: LedgerDraft, channels: Sequence[str], state: ChangeState) -> None:
    for channel in channels:
        change_id = str(uuid.uuid5(LEDGER_NAMESPACE, f"changed\x00{draft.id}\x00{channel}"))
        changes.changes.append(ConsentChange(change_id, draft.customer_id, channel, state, draft.occurred_at))


def translate(events: Sequence[CloudEvent]) -> BatchChanges:
    """Turn a batch of (new) events into the changes to apply, in event order."""
    out = BatchChanges()
    for event in events:
        customer_id = event.customer_id
        if customer_id is None:
            continue
        first = out.known.get(customer_id)
        out.known[customer_id] = min(first, event.time) if first else event.time
        _apply(out, event, customer_id)
    return out


def _apply(out: BatchChanges, event: CloudEvent, customer_id: str) -> None:
    if isinstance(event, CustomerUpserted):
        d = event.data
        address = d.postal_address.model_dump(exclude_none=True) if d.postal_address else None
        out.profiles.append(ProfileUpdate(customer_id, event.time, d.kind, d.email, d.phone, d.fax, address))
    elif isinstance(event, OrderPlaced):
        out.orders.append((customer_id, event.data.order_id, event.time, event.data.category))
    elif isinstance(event, ContractStarted | ContractRenewed):
        kind: Literal["started", "renewed"] = "started" if isinstance(event, ContractStarted) else "renewed"
        out.contracts.append((customer_id, ContractEvent(event.data.contract_id, kind, event.time)))
    elif isinstance(event, ContractCancelled):
        effective = _parse_date(event.data.effective_date, event.time)
        out.contracts.append((customer_id, ContractEvent(event.data.contract_id, "cancelled", event.time, effective)))
        if event.data.no_contact_requested:
            payload: dict[str, Any] = {
                "reason": "no_contact_requested",
                "contract_id": event.data.contract_id,
                "note": event.data.reason_text,
            }
            draft = _draft(event, customer_id, "no_contact", payload)
            out.drafts.append(draft)
            _notify(out, draft, [ALL_CHANNELS], "objected")
    elif isinstance(event, ConsentGranted):
        draft = _draft(event, customer_id, "grant", event.data.model_dump(mode="json", exclude={"customer_id"}))
        out.drafts.append(draft)
        _notify(out, draft, [event.data.channel.value], "granted")
    elif isinstance(event, ConsentRevoked):
        draft = _draft(event, customer_id, "revocation", event.data.model_dump(mode="json", exclude={"customer_id"}))
        out.drafts.append(draft)
        _notify(out, draft, [event.data.channel.value], "revoked")
    elif isinstance(event, ContactObjected):
        channels = [str(c) for c in event.data.channels]
        draft = _draft(
            event,
            customer_id,
            "objection",
            {"channels": channels, "note": event.data.note, "origin": "contact.objected"},
        )
        out.drafts.append(draft)
        _notify(out, draft, channels, "objected")
    elif isinstance(event, CampaignResponse) and event.data.outcome in OBJECTING_OUTCOMES:
        payload = {
            "channels": [RESPONSE_OBJECTION_CHANNEL],
            "note": f"campaign response {event.data.outcome} to action {event.data.action_id}",
            "origin": "campaign.response",
            "action_id": event.data.action_id,
        }
        draft = _draft(event, customer_id, "objection", payload)
        out.drafts.append(draft)
        _notify(out, draft, [RESPONSE_OBJECTION_CHANNEL], "objected")


def _parse_date(value: str | None, default: datetime) -> datetime | None:
    """`effective_date` is free text in the contract; an unreadable one counts as immediate."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=default.tzinfo)
