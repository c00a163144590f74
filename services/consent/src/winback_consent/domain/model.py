"""Plain data the consent rules work on: ledger facts, a customer snapshot, the policy, a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

EntryType = Literal["grant", "revocation", "objection", "no_contact", "use", "erasure", "tombstone"]
CustomerKind = Literal["consumer", "business"]

CHANNELS: tuple[str, ...] = ("email", "sms", "messenger", "phone", "fax", "automated_call", "post")
ALL_CHANNELS = "all"
# The reason of a "not yet" answer: the caller retries, it never settles anything on it.
NOT_YET_APPLIED = "not_yet_applied"


@dataclass(frozen=True, slots=True)
class LedgerFact:
    """One ledger entry as the rules see it: what happened, when, with which payload."""

    id: str
    seq: int
    entry_type: EntryType
    occurred_at: datetime
    payload: dict[str, Any]

    @property
    def channel(self) -> str | None:
        value = self.payload.get("channel")
        return value if isinstance(value, str) else None

    @property
    def channels(self) -> list[str]:
        value = self.payload.get("channels")
        return [str(c) for c in value] if isinstance(value, list) else []

    @property
    def evidence(self) -> dict[str, Any]:
        value = self.payload.get("evidence")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """A contract started, renewed or cancelled; folded at decision time so `at` can look back."""

    contract_id: str
    kind: Literal["started", "renewed", "cancelled"]
    occurred_at: datetime
    # When a cancellation takes effect; until then the relationship is still active.
    effective_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerSnapshot:
    """Everything the rules know about one customer; facts after the decision moment are ignored."""

    customer_id: str
    known: bool
    kind: CustomerKind = "consumer"
    entries: tuple[LedgerFact, ...] = ()
    # category -> first time the customer bought it
    categories: dict[str, datetime] = field(default_factory=dict)
    contract_events: tuple[ContractEvent, ...] = ()
    order_times: tuple[datetime, ...] = ()
    # channel -> time the contact address it reaches went on the suppression list
    suppressions: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    staleness_days: int = 730
    exception_after_cancellation: bool = False
    relationship_window_months: int = 24

    def as_dict(self) -> dict[str, Any]:
        return {
            "staleness_days": self.staleness_days,
            "exception_after_cancellation": self.exception_after_cancellation,
            "relationship_window_months": self.relationship_window_months,
        }


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    customer_id: str
    channel: str
    at: datetime
    purpose: str = "marketing"
    content: Literal["advertising", "service"] = "advertising"
    offer_category: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    basis: str | None = None
    reason: str | None = None
    evidence_ids: tuple[str, ...] = ()
    # "Not yet": the event the question rests on is not applied here yet; neither ALLOW nor DENY.
    pending: bool = False

    @classmethod
    def allow(cls, basis: str, *evidence_ids: str) -> Decision:
        return cls(True, basis, None, tuple(evidence_ids))

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(False, None, reason, ())

    @classmethod
    def not_yet(cls) -> Decision:
        return cls(False, None, NOT_YET_APPLIED, (), pending=True)
