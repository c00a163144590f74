"""No decision on stale state: consent answers "not yet" until it has applied the event a request names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from winback_consent.domain.decisions import decide_after
from winback_consent.domain.model import (
    NOT_YET_APPLIED,
    CustomerSnapshot,
    Decision,
    DecisionRequest,
    LedgerFact,
    Policy,
)
from winback_consent.service_layer.decisions import DecisionCommand, decide_many
from winback_shared.clock import FixedClock

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
CANCELLATION = ("/billing", "cancel-1")
DOI_GRANT = LedgerFact(
    "g1",
    1,
    "grant",
    T0,
    {
        "channel": "email",
        "kind": "express",
        "purpose": "marketing",
        "method": "double_opt_in",
        "evidence": {"confirmed_at": "2025-01-01T00:05:00Z", "text_version": "v1"},
    },
)
KNOWN = CustomerSnapshot("c1", known=True, entries=(DOI_GRANT,))
UNKNOWN = CustomerSnapshot("c1", known=False)
REQUEST = DecisionRequest("c1", "email", NOW)


def test_before_the_named_event_is_applied_the_answer_is_not_yet_never_a_deny() -> None:
    decision = decide_after(UNKNOWN, REQUEST, Policy(), cause_applied=False)
    assert decision == Decision(False, None, NOT_YET_APPLIED, (), pending=True)


def test_not_yet_holds_even_when_the_snapshot_would_allow() -> None:
    # Whatever consent knows, it has not caught up with the question: an ALLOW could be stale too.
    assert decide_after(KNOWN, REQUEST, Policy(), cause_applied=False).pending is True


def test_once_the_event_is_applied_the_decision_table_decides() -> None:
    decision = decide_after(KNOWN, REQUEST, Policy(), cause_applied=True)
    assert decision == Decision.allow("express_consent", "g1")


def test_a_customer_still_unknown_after_the_named_event_is_really_unknown() -> None:
    decision = decide_after(UNKNOWN, REQUEST, Policy(), cause_applied=True)
    assert decision == Decision.deny("unknown_customer")
    assert decision.pending is False


class FakeReads:
    """The decisions' read path at its boundary: snapshots by customer, and the inbox of applied events."""

    def __init__(self, snapshots: dict[str, CustomerSnapshot], applied: set[tuple[str, str]]) -> None:
        self.snapshots = snapshots
        self.applied_events = applied
        self.asked: list[list[tuple[str, str]]] = []

    async def load(self, customer_ids: Iterable[str]) -> dict[str, CustomerSnapshot]:
        return {c: self.snapshots.get(c, CustomerSnapshot(c, known=False)) for c in customer_ids}

    async def applied(self, refs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        keys = list(refs)
        self.asked.append(keys)
        return {k for k in keys if k in self.applied_events}


async def _decide(reads: FakeReads, *commands: DecisionCommand) -> list[Decision]:
    sessions: Any = None  # decisions without dispatch never open a transaction
    outcomes = await decide_many(sessions, FixedClock(NOW), Policy(), commands, reads=reads.load, applied=reads.applied)
    return [o.decision for o in outcomes]


async def test_a_batch_answers_each_item_by_its_own_named_event() -> None:
    reads = FakeReads({"c1": KNOWN}, applied={CANCELLATION})
    late = ("/billing", "cancel-2")
    decisions = await _decide(
        reads,
        DecisionCommand(REQUEST, caused_by=CANCELLATION),  # applied: decided
        DecisionCommand(DecisionRequest("c2", "email", NOW), caused_by=late),  # not applied yet
        DecisionCommand(DecisionRequest("c3", "email", NOW), caused_by=CANCELLATION),  # applied, never heard of c3
        DecisionCommand(DecisionRequest("c4", "email", NOW)),  # names nothing: as before
    )
    assert decisions == [
        Decision.allow("express_consent", "g1"),
        Decision.not_yet(),
        Decision.deny("unknown_customer"),
        Decision.deny("unknown_customer"),
    ]
    assert reads.asked == [[CANCELLATION, late, CANCELLATION]]
