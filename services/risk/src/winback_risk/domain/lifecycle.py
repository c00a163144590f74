"""Lifecycle rules: how events move a customer between statuses (pure functions, no I/O).

Ordering: events of one customer are applied in event-time order within a batch. Across
batches an event may still arrive late (older than the customer's last applied event). Such
an event always updates the facts (orders, revenue, first/last order), but a status only
moves when the event is not older than what it would overturn:
- a cancellation churns only if it is not older than the current status and not older than
  the latest order, renewal or contract start (a later purchase supersedes an earlier notice);
- an order, renewal or contract start wins a churned customer back only if it is strictly
  after the churn (a purchase made before the notice is no return).
So a late event never moves the status backwards; it may only be ignored for the status.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from winback_risk.domain.customer import UNKNOWN_REASON, CustomerState, Status, StatusChange
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ContractCancelled, CustomerUpserted, OrderPlaced, OrderReturned

# Reason codes after which winning the customer back is not wanted: we ended it, or they cannot pay or cheated.
INELIGIBLE_REASONS = frozenset({"company_initiated", "insolvency", "fraud"})
# Facts that show a customer is buying again.
RETURN_TYPES = frozenset({"order.placed", "contract.renewed", "contract.started"})
CHURNABLE: frozenset[Status] = frozenset({"active", "at_risk", "lapsed", "won_back"})
RECOVERABLE: frozenset[Status] = frozenset({"churned", "lapsed"})
_ZERO = Decimal(0)
_TIME = attrgetter("time")


def churn_reason_of(reason_code: str | None) -> str:
    """The cancellation's reason code, or "unknown" when none was given."""
    return reason_code or UNKNOWN_REASON


def is_winback_eligible(reason_code: str | None, no_contact_requested: bool) -> bool:
    """False for company-initiated endings, insolvency, fraud, or when the customer forbade contact."""
    return not no_contact_requested and reason_code not in INELIGIBLE_REASONS


def _move(state: CustomerState, to: Status, event: CloudEvent, reasons: tuple[str, ...]) -> StatusChange:
    change = StatusChange(
        customer_id=state.customer_id,
        from_status=state.status,
        to_status=to,
        at=event.time,
        reasons=reasons,
        churn_reason=state.churn_reason,
        winback_eligible=state.winback_eligible,
        segment=state.segment,
        value_tier=state.value_tier,
        trigger=event.identity,
    )
    state.status = to
    state.status_since = event.time
    return change


def record_facts(state: CustomerState, event: CloudEvent) -> None:
    """Fold the event's facts into the state; order-independent (sums, minima, maxima).

    Once per event of every batch: the minima and maxima are written out rather than called, and
    an order, the usual event, is tested first.
    """
    t = event.time
    last_event = state.last_event_time
    if isinstance(event, OrderPlaced):
        data = event.data
        state.orders += 1
        state.revenue += data.amount
        state.margin += data.margin or _ZERO
        if state.first_order_at is None or t < state.first_order_at:
            state.first_order_at = t
        if state.last_order_at is None or t > state.last_order_at:
            state.last_order_at = t
    elif isinstance(event, CustomerUpserted):
        if last_event is None or t >= last_event:
            state.kind = event.data.kind
    elif isinstance(event, OrderReturned) and event.data.amount is not None:
        state.revenue -= event.data.amount
    if event.type in RETURN_TYPES and (state.last_return_at is None or t > state.last_return_at):
        state.last_return_at = t
    if state.first_seen_at is None or t < state.first_seen_at:
        state.first_seen_at = t
    if last_event is None or t > last_event:
        state.last_event_time = t


def churn_evidence(event: ContractCancelled) -> dict[str, Any]:
    """What the churn reason rests on, kept with the customer and shown by the API."""
    data = event.data
    return {
        "event_type": event.type,
        "source": event.source,
        "event_id": event.id,
        "contract_id": data.contract_id,
        "notice_at": event.time.isoformat(),
        "effective_date": data.effective_date,
        "reason_code": data.reason_code.value if data.reason_code else None,
        "reason_text": data.reason_text,
        "competitor": data.competitor,
        "no_contact_requested": data.no_contact_requested,
    }


def apply_cancellation(state: CustomerState, event: ContractCancelled) -> StatusChange | None:
    """`contract.cancelled` churns the customer at the notice, not at the effective date.

    Notice given counts as churned: the decision to leave is the fact win-back reacts to, and
    waiting for the effective date would waste the months of notice in which winning the
    customer back is cheapest. The effective date is kept in `churn_evidence`.
    """
    data = event.data
    reason_code = data.reason_code.value if data.reason_code else None
    eligible = is_winback_eligible(reason_code, data.no_contact_requested)
    if state.status == "churned":
        # A further notice (another contract) adds no transition, but may forbid contact or name the reason.
        state.winback_eligible = state.winback_eligible and eligible
        if state.churn_reason == UNKNOWN_REASON and reason_code:
            state.churn_reason = reason_code
            state.churn_evidence = churn_evidence(event)
        return None
    if state.status not in CHURNABLE:
        return None
    # A notice that arrives late (consumer lag, a billing system's nightly batch) still churns at the
    # notice, even when a later assessment moved the customer to at_risk or lapsed meanwhile: those
    # were scores made without it. Only a return after the notice (an order, renewal, new contract)
    # makes it obsolete. Dropping it lost the churn for good (seen in the simulated business).
    if state.last_return_at is not None and event.time < state.last_return_at:
        return None
    state.churn_reason = churn_reason_of(reason_code)
    state.churn_evidence = churn_evidence(event)
    state.winback_eligible = eligible
    state.churned_at = event.time
    state.churn_count += 1
    return _move(state, "churned", event, (event.type,))


def apply_return(state: CustomerState, event: CloudEvent) -> StatusChange | None:
    """An order, renewal or contract start after a churn (or lapse) wins the customer back."""
    if state.status not in RECOVERABLE or state.status_since is None or event.time <= state.status_since:
        return None
    state.won_back_at = event.time
    state.days_to_winback = round((event.time - state.status_since).total_seconds() / 86_400.0, 3)
    return _move(state, "won_back", event, (event.type,))


def apply_event(state: CustomerState, event: CloudEvent) -> list[StatusChange]:
    """Apply one event of this customer; returns the status changes it caused (0, 1 or 2)."""
    changes: list[StatusChange] = []
    _apply_event(state, event, changes)
    return changes


def _apply_event(state: CustomerState, event: CloudEvent, changes: list[StatusChange]) -> None:
    """`apply_event`, appending to the batch's list (no list per event)."""
    if state.status is None:
        changes.append(_move(state, "active", event, ("first_event",)))
    record_facts(state, event)
    change: StatusChange | None = None
    if isinstance(event, ContractCancelled):
        change = apply_cancellation(state, event)
    elif event.type in RETURN_TYPES:
        change = apply_return(state, event)
    if change is not None:
        changes.append(change)


def by_customer(
    events: Sequence[CloudEvent], customer_ids: Sequence[str | None] | None = None
) -> dict[str, list[CloudEvent]]:
    """Customer events grouped per customer, each list in event-time order (stable for ties).

    `customer_ids`: each event's `customer_id`, when the caller has read them already (an
    attribute of a pydantic model costs ~0.15 us to read, and the batch reads each once).
    """
    ids = [e.customer_id for e in events] if customer_ids is None else customer_ids
    groups: dict[str, list[CloudEvent]] = {}
    for event, customer_id in zip(events, ids, strict=True):
        if customer_id is not None:
            group = groups.get(customer_id)
            if group is None:
                groups[customer_id] = [event]
            else:
                group.append(event)
    for group in groups.values():
        group.sort(key=_TIME)
    return groups


def apply_batch(states: dict[str, CustomerState], events: Sequence[CloudEvent]) -> list[StatusChange]:
    """Fold a batch into `states` (missing customers are created); returns all status changes."""
    return apply_groups(states, by_customer(events))


def apply_groups(states: dict[str, CustomerState], groups: dict[str, list[CloudEvent]]) -> list[StatusChange]:
    """`apply_batch` of events already grouped by `by_customer`."""
    changes: list[StatusChange] = []
    for customer_id, group in groups.items():
        state = states.get(customer_id)
        if state is None:
            state = states[customer_id] = CustomerState(customer_id=customer_id)
        for event in group:
            _apply_event(state, event, changes)
    return changes


ASSESSMENT_SOURCE = "risk-assessment"


def apply_assessment(
    state: CustomerState,
    status: Status,
    reasons: tuple[str, ...],
    at: datetime,
    *,
    churn_reason: str | None = None,
    churn_evidence: dict[str, Any] | None = None,
) -> StatusChange | None:
    """Move to the status the scores give at `at` (at_risk, lapsed, behavioural churn, recovery).

    A churned customer leaves churned only by a return (an event), never by a score; an
    assessment older than the current status changes nothing.
    """
    if state.status is None or status == state.status or state.status == "churned":
        return None
    if state.status_since is not None and at < state.status_since:
        return None
    if status == "won_back":
        return None
    if status == "churned":
        state.churn_reason = churn_reason or UNKNOWN_REASON
        state.churn_evidence = churn_evidence
        state.churned_at = at
        state.churn_count += 1
    change = StatusChange(
        customer_id=state.customer_id,
        from_status=state.status,
        to_status=status,
        at=at,
        reasons=reasons,
        churn_reason=state.churn_reason if status == "churned" else churn_reason,
        winback_eligible=state.winback_eligible,
        segment=state.segment,
        value_tier=state.value_tier,
        trigger=(ASSESSMENT_SOURCE, f"{state.customer_id}\x00{at.isoformat()}"),
    )
    state.status = status
    state.status_since = at
    return change
