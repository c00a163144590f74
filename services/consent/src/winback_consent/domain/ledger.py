"""The tamper-evident ledger: per customer, each entry carries its predecessor's hash (GDPR Art. 7(1))."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
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
    # The payload as the canonical JSON text hashed into `hash` (None when it was not kept): it is
    # what gets stored, so the payload is serialised once per append.
    payload_json: str | None = field(default=None, compare=False, repr=False)

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


# Cached by value: a batch's entries mostly share one or two instants, and equal datetimes (whatever
# their zone) are the same instant, so they give the same text.
@functools.lru_cache(maxsize=4096)
def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class _Unusual(Exception):
    """A top-level value the fast canonical writer leaves to `json.dumps` (not str, int or None)."""


# `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)` builds a JSONEncoder
# and, in it, json's C encoder per call; built once they write the same bytes. No `default`: a
# payload they cannot write (or a circular one) is left to the reference serialisation (and, as
# before, cannot be stored).
_PAYLOAD_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _c_encoder() -> Any:
    # json's private constructor, with the arguments JSONEncoder.iterencode passes it (markers=None:
    # no circular check, a cycle ends in RecursionError and the fallback). Should another Python take
    # other arguments, the public encoder (same bytes, a little slower) is used instead.
    try:
        return c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", True, False, True)
    except TypeError:
        return None


_C_ENCODER = _c_encoder() if c_make_encoder else None


def _payload_json(payload: dict[str, Any]) -> str:
    if _C_ENCODER is None:
        return _PAYLOAD_ENCODER.encode(payload)
    return "".join(_C_ENCODER(payload, 0))


def _text(value: str | None) -> str:
    if type(value) is str:
        return encode_basestring(value)  # json's own C string writer
    if value is None:
        return "null"
    raise _Unusual


def _canonical(
    *,
    id: str,
    customer_id: str,
    seq: int,
    entry_type: str,
    occurred_at: str,
    recorded_at: str,
    payload: dict[str, Any],
    source_event: str | None,
    request_id: str | None,
    prev_hash: str,
) -> tuple[bytes, str | None]:
    """The canonical bytes and, when written by the fast path, the payload's canonical JSON text."""
    try:
        if type(seq) is not int:
            raise _Unusual
        payload_json = _payload_json(payload)
        # The document's keys in sorted order, as `json.dumps(..., sort_keys=True)` writes them.
        text = (
            f'{{"customer_id":{_text(customer_id)},"entry_type":{_text(entry_type)},"id":{_text(id)},'
            f'"occurred_at":{_text(occurred_at)},"payload":{payload_json},"prev_hash":{_text(prev_hash)},'
            f'"recorded_at":{_text(recorded_at)},"request_id":{_text(request_id)},"seq":{seq},'
            f'"source_event":{_text(source_event)}}}'
        )
        return text.encode(), payload_json
    except (_Unusual, TypeError, ValueError, RecursionError):
        pass
    document = {
        "id": id,
        "customer_id": customer_id,
        "seq": seq,
        "entry_type": entry_type,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "payload": payload,
        "source_event": source_event,
        "request_id": request_id,
        "prev_hash": prev_hash,
    }
    return json_canonical(document).encode(), None


def json_canonical(document: Any) -> str:
    """The reference serialisation of the chain's hash: sorted keys, no whitespace, `str` for the rest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
    content, _ = _canonical(
        id=id,
        customer_id=customer_id,
        seq=seq,
        entry_type=entry_type,
        occurred_at=_instant(occurred_at),
        recorded_at=_instant(recorded_at),
        payload=payload,
        source_event=source_event,
        request_id=request_id,
        prev_hash=prev_hash,
    )
    return content


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
    recorded = _instant(recorded_at)
    for draft in drafts:
        # On every dispatched decision's path: the entry is built once, from its hash.
        seq = head.seq + 1
        content, payload_json = _canonical(
            id=draft.id,
            customer_id=draft.customer_id,
            seq=seq,
            entry_type=draft.entry_type,
            occurred_at=_instant(draft.occurred_at),
            recorded_at=recorded,
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
                payload_json,
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
