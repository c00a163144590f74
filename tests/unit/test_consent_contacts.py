"""Normalising contact identifiers, their keyed hashes, and the tombstone chain of an erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from winback_consent.domain.contacts import (
    InvalidIdentifier,
    contact_hashes,
    hash_value,
    legacy_hash,
    legacy_pairs,
    normalise_email,
    normalise_phone,
    normalise_postal,
    suppressions_by_channel,
)
from winback_consent.domain.erasure import tombstone_chain
from winback_consent.domain.ledger import ChainHead, LedgerDraft, append, verify_chain
from winback_consent.settings import ConsentSettings

KEY = b"test-key-of-some-length"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_email_is_trimmed_and_lowercased() -> None:
    assert normalise_email("  Anna.Muster@Example.ORG ") == "anna.muster@example.org"
    with pytest.raises(InvalidIdentifier):
        normalise_email("no-at-sign")


@pytest.mark.parametrize(
    "raw",
    ["0170 1234567", "+49 170 1234567", "0049-170-1234567", "+49 (0)170 123 45 67", "(0170) 123/4567"],
)
def test_german_numbers_in_every_spelling_become_one(raw: str) -> None:
    assert normalise_phone(raw) == "+491701234567"


def test_foreign_numbers_keep_their_country_code() -> None:
    assert normalise_phone("+43 1 234567") == "+431234567"
    for bad in ("12", "call me", "+49 170 1234567 ext. 5"):
        with pytest.raises(InvalidIdentifier):
            normalise_phone(bad)


def test_the_libraries_read_what_the_old_rules_misread() -> None:
    # phonenumbers drops a trunk 0 written after the country code; the old rules kept it.
    assert normalise_phone("+49 030 1234567") == normalise_phone("030 1234567") == "+49301234567"
    # email-validator brings an IDNA domain to one form, whichever way it was written.
    assert normalise_email("Anna@xn--bcher-kva.de") == normalise_email("anna@BÜCHER.de") == "anna@bücher.de"
    for bad in ("a..b@example.org", "anna@localhost", '"anna muster"@example.org'):
        with pytest.raises(InvalidIdentifier):
            normalise_email(bad)
    # Letters are a vanity number or an extension, never read as digits; a local-only length is refused.
    for bad in ("0800 FLOWERS", "0170 1234567 (mobil)", "+49 12"):
        with pytest.raises(InvalidIdentifier):
            normalise_phone(bad)


def test_a_value_only_the_old_rules_read_keeps_its_old_hash_so_its_listing_still_matches() -> None:
    assert contact_hashes(KEY, "a..b@example.org", None, None, None).email == legacy_hash(
        KEY, "email", "a..b@example.org"
    )
    assert contact_hashes(KEY, "nonsense", None, None, None).email is None


def test_only_identifiers_the_schemes_hash_differently_are_carried_over() -> None:
    pairs = legacy_pairs(KEY, "anna@example.org", "+49 030 1234567", "030 7654321")
    assert pairs == [("phone", legacy_hash(KEY, "phone", "+49 030 1234567"), hash_value(KEY, "phone", "030 1234567"))]
    assert legacy_pairs(KEY, None, None, None) == []


def test_postal_addresses_in_different_spellings_match() -> None:
    one = normalise_postal({"street": "Musterstraße 12", "postal_code": "10115", "city": "Berlin"})
    assert normalise_postal("musterstr. 12, 10115 BERLIN") == one
    assert normalise_postal({"street": "Muster Strasse 12", "postal_code": "10 115", "city": "berlin"}) == one
    assert normalise_postal("Musterweg 12, 10115 Berlin") != one
    with pytest.raises(InvalidIdentifier):
        normalise_postal({"street": "Musterstraße 12", "city": "Berlin"})


def test_hashes_are_keyed_and_never_the_value() -> None:
    digest = hash_value(KEY, "email", "A@Example.org")
    assert digest == hash_value(KEY, "email", "a@example.org ")
    assert digest != hash_value(b"another-key-entirely", "email", "a@example.org")
    assert "example" not in digest and len(digest) == 64
    # The same string as a phone number and an e-mail address never collide.
    assert hash_value(KEY, "phone", "0170 1234567") != hash_value(KEY, "email", "x@y.de")


def test_a_fax_number_is_matched_in_the_phone_number_space() -> None:
    hashes = contact_hashes(KEY, None, None, "030 1234567", None)
    assert hashes.fax == hash_value(KEY, "phone", "+49 30 1234567")
    assert contact_hashes(KEY, "not an address", None, None, None).email is None


def test_an_identifier_on_the_list_blocks_the_channels_that_reach_it() -> None:
    listed = suppressions_by_channel({"phone": T0})
    assert set(listed) == {"phone", "sms", "messenger", "automated_call"}
    assert set(suppressions_by_channel({"fax": T0, "postal": T0})) == {"fax", "post"}


def test_production_refuses_the_dev_hash_key() -> None:
    with pytest.raises(ValueError, match="HASH_KEY"):
        ConsentSettings(env="production", api_keys="k-long-enough:admin", erasure_key="e" * 32)
    ok = ConsentSettings(
        env="production", api_keys="k-long-enough:admin", consent_hash_key="s" * 32, erasure_key="e" * 32
    )
    assert ok.hash_key == b"s" * 32


def test_the_tombstone_chain_verifies_and_keeps_no_evidence() -> None:
    drafts = [
        LedgerDraft("g1", "c1", "grant", T0, {"channel": "email", "evidence": {"ip": "192.0.2.1"}}),
        LedgerDraft("u1", "c1", "use", T0 + timedelta(days=1), {"evidence_ids": ["g1"]}, request_id="r1"),
    ]
    entries, head = append(ChainHead(), drafts, T0)
    chain, new_head = tombstone_chain(
        entries, head, customer_id="c1", erasure_id="x1", erased_at=T0 + timedelta(days=2), suppressed=["email"]
    )
    assert verify_chain(chain, new_head).valid
    assert [e.id for e in chain] == ["g1", "u1", "x1"]
    assert [e.entry_type for e in chain] == ["tombstone", "tombstone", "erasure"]
    assert "192.0.2.1" not in str([e.payload for e in chain])
    assert chain[0].payload == {"entry_type": "grant", "original_hash": entries[0].hash}
    assert chain[1].request_id == "r1"
    assert chain[-1].payload["replaced_head"] == {"seq": 2, "hash": head.hash}
    # Erasing again keeps what the first erasure wrote.
    again, again_head = tombstone_chain(
        chain, new_head, customer_id="c1", erasure_id="x2", erased_at=T0 + timedelta(days=3), suppressed=[]
    )
    assert [e.payload for e in again[:3]] == [e.payload for e in chain]
    assert verify_chain(again, again_head).valid
