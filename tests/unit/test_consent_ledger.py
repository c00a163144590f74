"""The hash chain: verify detects a changed, deleted or inserted entry, and a cut-off end."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from winback_consent.domain.ledger import (
    GENESIS_HASH,
    ChainHead,
    LedgerDraft,
    LedgerEntry,
    append,
    canonical_content,
    json_canonical,
    verify_chain,
)
from winback_consent.domain.translate import translate
from winback_shared.events.inbound import CampaignResponse, ContractCancelled

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def chain(n: int = 4) -> tuple[list[LedgerEntry], ChainHead]:
    drafts = [
        LedgerDraft(f"id{i}", "c1", "grant", T0 + timedelta(days=i), {"channel": "email", "n": i, "ü": "ß"})
        for i in range(n)
    ]
    return append(ChainHead(), drafts, T0 + timedelta(days=n))


def test_a_fresh_chain_verifies() -> None:
    entries, head = chain()
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert verify_chain(entries, head).valid
    assert verify_chain(entries, head).entries == 4


def test_appending_continues_from_the_head() -> None:
    entries, head = chain(2)
    more, head = append(head, [LedgerDraft("id9", "c1", "use", T0, {"evidence_ids": ["id0"]})], T0)
    assert more[0].seq == 3 and more[0].prev_hash == entries[-1].hash
    assert verify_chain(entries + more, head).valid


def test_a_changed_entry_is_detected() -> None:
    entries, head = chain()
    entries[1] = dataclasses.replace(entries[1], payload={"channel": "sms", "n": 1, "ü": "ß"})
    result = verify_chain(entries, head)
    assert not result.valid and result.first_broken_entry == "id1"


def test_a_changed_time_is_detected() -> None:
    entries, head = chain()
    entries[2] = dataclasses.replace(entries[2], occurred_at=entries[2].occurred_at - timedelta(days=900))
    assert verify_chain(entries, head).first_broken_entry == "id2"


def test_a_deleted_entry_is_detected() -> None:
    entries, head = chain()
    del entries[1]
    result = verify_chain(entries, head)
    assert not result.valid and result.first_broken_entry == "id2"


def test_an_inserted_entry_is_detected() -> None:
    entries, _ = chain()
    forged = dataclasses.replace(entries[1], id="forged", payload={"channel": "phone"})
    entries.insert(2, forged)
    later = [dataclasses.replace(e, seq=e.seq + 1) for e in entries[3:]]
    result = verify_chain([*entries[:2], dataclasses.replace(forged, seq=3), *later], None)
    assert not result.valid and result.first_broken_entry == "forged"


def test_a_removed_newest_entry_is_detected_through_the_head() -> None:
    entries, head = chain()
    assert verify_chain(entries[:-1]).valid  # the chain alone cannot tell
    result = verify_chain(entries[:-1], head)
    assert not result.valid and result.first_broken_entry is None


def test_hashes_survive_a_timezone_change() -> None:
    entries, head = chain()
    shifted = [
        dataclasses.replace(e, occurred_at=e.occurred_at.astimezone(datetime.now().astimezone().tzinfo))
        for e in entries
    ]
    assert verify_chain(shifted, head).valid


def test_unsubscribe_and_no_contact_become_ledger_blocks() -> None:
    unsubscribed = CampaignResponse.new(
        source="/tool", time=T0, data={"customer_id": "c1", "action_id": "a1", "outcome": "unsubscribed"}
    )
    cancelled = ContractCancelled.new(
        source="/crm", time=T0, data={"customer_id": "c2", "contract_id": "k", "no_contact_requested": True}
    )
    changes = translate([unsubscribed, cancelled])
    assert [(d.customer_id, d.entry_type) for d in changes.drafts] == [("c1", "objection"), ("c2", "no_contact")]
    assert changes.drafts[0].payload["channels"] == ["email"]
    assert [(c.channel, c.state) for c in changes.changes] == [("email", "objected"), ("all", "objected")]
    assert set(changes.known) == {"c1", "c2"}


# Any JSON-like payload, including what the fast canonical writer leaves to `json.dumps`.
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.datetimes(timezones=st.just(UTC))
)
_payloads = st.dictionaries(
    st.text() | st.integers(),
    st.recursive(
        _leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    ),
    max_size=6,
)


@given(
    payload=_payloads,
    request_id=st.none() | st.text(),
    source_event=st.none() | st.text(),
    customer_id=st.text(min_size=1),
    seq=st.integers(min_value=1, max_value=2**40),
)
@settings(max_examples=300, deadline=None)
def test_the_canonical_bytes_are_those_of_the_reference_serialisation(
    payload: dict[Any, Any], request_id: str | None, source_event: str | None, customer_id: str, seq: int
) -> None:
    """Hashes of existing chains must not change: every entry's bytes equal `json.dumps(sort_keys=True)`'s."""
    occurred, recorded = T0 + timedelta(microseconds=seq % 997), T0 + timedelta(days=1)
    fields = {
        "id": "e1",
        "customer_id": customer_id,
        "seq": seq,
        "entry_type": "use",
        "payload": payload,
        "source_event": source_event,
        "request_id": request_id,
        "prev_hash": GENESIS_HASH,
    }
    try:
        reference = json_canonical(
            {
                **fields,
                "occurred_at": occurred.isoformat(timespec="microseconds"),
                "recorded_at": recorded.isoformat(timespec="microseconds"),
            }
        ).encode()
    except (TypeError, ValueError):
        return  # keys json cannot sort (str and int mixed): not a payload anyone can store
    assert canonical_content(occurred_at=occurred, recorded_at=recorded, **fields) == reference
    draft = LedgerDraft("e1", customer_id, "use", occurred, payload, source_event, request_id)
    (entry,), _ = append(ChainHead(seq - 1, GENESIS_HASH), [draft], recorded)
    assert entry.hash == hashlib.sha256(reference).hexdigest()
    assert verify_chain([dataclasses.replace(entry, seq=1)], None).valid in (True, False)  # recomputes without error
    if entry.payload_json is not None:
        # What is stored is the same JSON value as the payload.
        assert json.loads(entry.payload_json) == json.loads(json.dumps(payload))


def test_a_plain_use_payload_takes_the_fast_path_and_keeps_its_hash() -> None:
    payload = {"channel": "email", "purpose": "marketing", "evidence_ids": ["g1"], "offer_category": None, "ü": "ß"}
    (entry,), _ = append(ChainHead(), [LedgerDraft("u1", "c1", "use", T0, payload, None, "r1")], T0)
    assert entry.payload_json == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert verify_chain([entry]).valid
