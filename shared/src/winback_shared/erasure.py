"""GDPR Art. 17 across services (pure): who is erased, and which events an erasure outlives.

Every service keeps a tombstone per erased customer: the keyed hash of the customer id (never the
id itself) and the erasure time. An event of that customer whose `time` is not after the erasure
is history the erasure removed: a replay of `winback.events` from the start, or a late event,
must not bring the person back, so it is ignored. An event dated after the erasure is a new
relationship and starts from nothing (the suppression list at consent still blocks advertising).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from winback_shared.events.envelope import CloudEvent

E = TypeVar("E", bound=CloudEvent)


def customer_digest(key: bytes, customer_id: str) -> str:
    """HMAC-SHA256 of the customer id, hex: what a tombstone stores instead of the id.

    `hmac.digest` is the one-shot form (OpenSSL in one call, no HMAC object): the same digest as
    `hmac.new(...).hexdigest()` at three quarters of the cost, once per customer of every batch.
    """
    return hmac.digest(key, customer_id.encode("utf-8", "surrogatepass"), "sha256").hex()


def is_erased_history(event_time: datetime, erased_at: datetime | None) -> bool:
    """Whether an event of an erased customer happened before (or at) the erasure, so stays erased."""
    return erased_at is not None and event_time <= erased_at


def without_erased_history(events: Sequence[E], erased_at: Mapping[str, datetime]) -> list[E]:
    """The events that may be applied, given each erased customer's erasure time (by plain id, in memory only)."""
    return [e for e in events if e.customer_id is None or not is_erased_history(e.time, erased_at.get(e.customer_id))]
