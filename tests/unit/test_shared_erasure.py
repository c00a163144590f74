"""The erasure rule every service applies: tombstones by keyed hash, and which events stay erased."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winback_shared.erasure import customer_digest, is_erased_history, without_erased_history
from winback_shared.events.inbound import FeatureReleased, OrderPlaced
from winback_shared.settings import DEV_ERASURE_KEY, PersonalDataSettings

ERASED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def order(customer_id: str, time: datetime) -> OrderPlaced:
    return OrderPlaced.new(
        source="/shop", time=time, data={"customer_id": customer_id, "order_id": f"o-{time:%j%H%M%S}", "amount": "10"}
    )


def test_the_tombstone_key_is_a_keyed_hash_that_never_holds_the_id() -> None:
    digest = customer_digest(b"key-one", "c-4711")
    assert digest == customer_digest(b"key-one", "c-4711")
    assert len(digest) == 64 and "4711" not in digest
    # Without the key the digest cannot be recomputed from a guessed id.
    assert customer_digest(b"key-two", "c-4711") != digest
    assert customer_digest(b"key-one", "c-4712") != digest


@given(key=st.binary(max_size=200), customer_id=st.text())
@settings(deadline=None)  # a wall-clock limit per example fails on a loaded CI machine, not on a wrong digest
def test_the_digest_is_the_hmac_object_s_hexdigest(key: bytes, customer_id: str) -> None:
    """The one-shot `hmac.digest` gives the tombstones stored before it (with `hmac.new`)."""
    data = customer_id.encode("utf-8", "surrogatepass")
    assert customer_digest(key, customer_id) == hmac.new(key, data, hashlib.sha256).hexdigest()


def test_events_up_to_the_erasure_stay_erased_and_later_ones_start_anew() -> None:
    assert is_erased_history(ERASED_AT - timedelta(days=400), ERASED_AT) is True
    # An event at the very moment of the erasure was known to it: erased too.
    assert is_erased_history(ERASED_AT, ERASED_AT) is True
    assert is_erased_history(ERASED_AT + timedelta(microseconds=1), ERASED_AT) is False
    assert is_erased_history(ERASED_AT - timedelta(days=1), None) is False


def test_only_the_erased_customers_history_is_left_out_of_a_batch() -> None:
    replayed = order("gone", ERASED_AT - timedelta(days=30))
    late = order("gone", ERASED_AT - timedelta(seconds=1))
    new_relationship = order("gone", ERASED_AT + timedelta(days=1))
    someone_else = order("kept", ERASED_AT - timedelta(days=30))
    release = FeatureReleased.new(source="/product", time=ERASED_AT - timedelta(days=1), data={"feature": "x"})
    batch = [replayed, someone_else, late, release, new_relationship]
    kept = without_erased_history(batch, {"gone": ERASED_AT})
    assert kept == [someone_else, release, new_relationship]


def test_production_refuses_the_public_erasure_key_where_personal_data_is_kept() -> None:
    production = {"env": "production", "api_keys": "a-production-key:admin"}
    for weak in ({}, {"erasure_key": DEV_ERASURE_KEY}, {"erasure_key": "short"}):
        with pytest.raises(ValueError, match="WINBACK_ERASURE_KEY"):
            PersonalDataSettings(**production, **weak)
    settings = PersonalDataSettings(**production, erasure_key="a-long-production-erasure-key")
    assert settings.erasure_hash_key == b"a-long-production-erasure-key"
    # Outside production the public key serves development and tests.
    assert PersonalDataSettings().erasure_key == DEV_ERASURE_KEY
