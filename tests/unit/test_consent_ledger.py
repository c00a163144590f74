"""The hash chain: verify detects a changed, deleted or inserted entry, and a cut-off end."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

from winback_consent.domain.ledger import GENESIS_HASH, ChainHead, LedgerDraft, LedgerEntry, append, verify_chain
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
