"""The tamper-evident ledger: per customer, each entry carries its predecessor's hash (GDPR Art. 7(1))."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from winback_consent.domain.model import EntryType, LedgerFact

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class LedgerDraft:
    """An entry to append; the chain position and hashes are assigned when it is appended."""

    id: str
    customer_id: str
    entry_type: EntryType
    occurred_at: datetime
    payload: dict[str, Any]
    source_event: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: str
    customer_id: str
    seq: int
    entry_type: EntryType
    occurred_at: datetime
    recorded_at: datetime
    payload: dict[str, Any]
    source_event: str | None
    request_id: str | None
    prev_hash: str
    hash: str

    def as_fact(self) -> LedgerFact:
        return LedgerFact(self.id, self.seq, self.entry_type, self.occurred_at, self.payload)


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int = 0
    hash: str = GENESIS_HASH


@dataclass(frozen=True, slots=True)
class VerifyResult:
    valid: bool
    entries: int
    first_broken_entry: str | None = None
    detail: str | None = None


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_content(
    *,
    id: str,
    customer_id: str,
    seq: int,
    entry_type: str,
    occurred_at: datetime,
    recorded_at: datetime,
    payload: dict[str, Any],
    source_event: str | None,
    request_id: str | None,
    prev_hash: str,
) -> bytes:
    """Sorted keys, no whitespace, UTC instants: the same content always gives the same bytes."""
    document = {
        "id": id,
        "customer_id": customer_id,
        "seq": seq,
        "entry_type": entry_type,
        "occurred_at": _instant(occurred_at),
        "recorded_at": _instant(recorded_at),
        "payload": payload,
        "source_event": source_event,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def hash_of(entry: LedgerEntry) -> str:
    """Recompute an entry's hash from its stored content and stored predecessor hash."""
    content = canonical_content(
        id=entry.id,
        customer_id=entry.customer_id,
        seq=entry.seq,
        entry_type=entry.entry_type,
        occurred_at=entry.occurred_at,
        recorded_at=entry.recorded_at,
        payload=entry.payload,
        source_event=entry.source_event,
        request_id=entry.request_id,
        prev_hash=entry.prev_hash,
    )
    return hashlib.sha256(content).hexdigest()


def append(
    head: ChainHead, drafts: Sequence[LedgerDraft], recorded_at: datetime
) -> tuple[list[LedgerEntry], ChainHead]:
    """Chain drafts of ONE customer onto `head`; returns the entries and the new head."""
    entries: list[LedgerEntry] = []
    for draft in drafts:
        # On every dispatched decision's path: the entry is built once, from its hash.
        seq = head.seq + 1
        content = canonical_content(
            id=draft.id,
            customer_id=draft.customer_id,
            seq=seq,
            entry_type=draft.entry_type,
            occurred_at=draft.occurred_at,
            recorded_at=recorded_at,
            payload=draft.payload,
            source_event=draft.source_event,
            request_id=draft.request_id,
            prev_hash=head.hash,
        )
        digest = hashlib.sha256(content).hexdigest()
        entries.append(
            LedgerEntry(
                draft.id,
                draft.customer_id,
                seq,
                draft.entry_type,
                draft.occurred_at,
                recorded_at,
                draft.payload,
                draft.source_event,
                draft.request_id,
                head.hash,
                digest,
            )
        )
        head = ChainHead(seq, digest)
    return entries, head


def verify_chain(entries: Sequence[LedgerEntry], head: ChainHead | None = None) -> VerifyResult:
    """Recompute the chain in `seq` order; a changed, deleted or inserted entry breaks it.

    `head` is the separately kept last position and hash, so removing the newest entries is
    detected too (a chain alone cannot tell a truncated ledger from a short one).
    """
    ordered = sorted(entries, key=lambda e: e.seq)
    previous = ChainHead()
    for entry in ordered:
        if entry.seq != previous.seq + 1:
            return VerifyResult(
                False, len(ordered), entry.id, f"entry {entry.seq} follows {previous.seq}: gap or insert"
            )
        if entry.prev_hash != previous.hash:
            return VerifyResult(False, len(ordered), entry.id, f"entry {entry.seq} does not point to its predecessor")
        if hash_of(entry) != entry.hash:
            return VerifyResult(False, len(ordered), entry.id, f"entry {entry.seq} was changed after it was written")
        previous = ChainHead(entry.seq, entry.hash)
    if head is not None and (head.seq, head.hash) != (previous.seq, previous.hash):
        return VerifyResult(
            False, len(ordered), None, f"the chain ends at entry {previous.seq}, the recorded head is entry {head.seq}"
        )
    return VerifyResult(True, len(ordered))
