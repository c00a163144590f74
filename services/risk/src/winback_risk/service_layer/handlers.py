"""Applying a batch of events: one transaction, idempotent, status changes via the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Counter

from winback_risk.contract import CONTRACT
from winback_risk.domain.customer import CustomerState, StatusChange
from winback_risk.domain.facts import facts_of_batch, first_statements
from winback_risk.domain.lifecycle import apply_groups, by_customer
from winback_risk.domain.model.population import PopulationModel
from winback_risk.domain.scoring import RiskConfig
from winback_risk.service_layer import assessment
from winback_risk.service_layer.ids import uuid5_text
from winback_risk.service_layer.unit_of_work import RiskUnitOfWork
from winback_shared.clock import Clock
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import CustomerErased, CustomerStatusChanged
from winback_shared.events.registry import INBOUND_TYPES

APPLIED = Counter("winback_risk_events_applied_total", "Events applied to customer state")
STATUS_CHANGES = Counter("winback_risk_status_changes_total", "Status changes published", ["to"])

# Namespace of the deterministic ids of produced events: the same trigger yields the same id.
_ID_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-4f37-9a51-3c2e7b9d0e14")


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    status_changes: int
    published: int = 0


def status_changed_event(
    change: StatusChange, source: str, caused_by: tuple[str, str] | None = None
) -> CustomerStatusChanged:
    """The `customer.status_changed` event of one transition; its time is the trigger's time.

    `caused_by` is the customer event whose application the change rests on (see `position_of`).
    """
    trigger_source, trigger_id = change.trigger
    event_id = uuid5_text(_ID_NAMESPACE, f"{trigger_source}\x00{trigger_id}\x00{change.to_status}")
    return CustomerStatusChanged.new(
        source=source,
        time=change.at,
        id=event_id,
        data={
            "customer_id": change.customer_id,
            "from": change.from_status,
            "to": change.to_status,
            "at": change.at,
            "reasons": list(change.reasons),
            "churn_reason": change.churn_reason,
            "segment": change.segment,
            "value_tier": change.value_tier,
            "winback_eligible": change.winback_eligible,
            "caused_by": None if caused_by is None else {"source": caused_by[0], "id": caused_by[1]},
            "winback_probability": change.winback_probability,
            "risk_score": change.risk_score,
            "predicted_value_if_retained_12m": _prediction(change.predicted_value_if_retained_12m),
            "revenue_12m_before_churn": assessment.money(change.revenue_12m_before_churn),
            "margin_12m_before_churn": assessment.money(change.margin_12m_before_churn),
        },
    )


def remember_latest_events(
    states: dict[str, CustomerState], fresh: Sequence[CloudEvent], customer_ids: Sequence[str | None] | None = None
) -> None:
    """Each customer's latest applied event in topic order (not event time): a valid position for readers.

    `customer_ids`: each event's `customer_id`, when the caller has read them already.
    """
    ids = [e.customer_id for e in fresh] if customer_ids is None else customer_ids
    # The last event of each customer, then one write per customer rather than one per event.
    latest = {customer_id or "": event for customer_id, event in zip(ids, fresh, strict=True)}
    for customer_id, event in latest.items():
        state = states.get(customer_id)
        if state is not None:
            state.last_event_source, state.last_event_id = event.source, event.id


def position_of(
    change: StatusChange, state: CustomerState | None, applied: set[tuple[str, str]]
) -> tuple[str, str] | None:
    """The trigger when it is an applied event; otherwise (a change from scores or time) the latest applied event."""
    if change.trigger in applied:
        return change.trigger
    if state is None or state.last_event_source is None or state.last_event_id is None:
        return None
    return (state.last_event_source, state.last_event_id)


def _prediction(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class Scoring:
    """What scoring a batch needs besides the events."""

    model: PopulationModel
    config: RiskConfig
    horizon_days: int
    basis: str


async def apply_events(
    uow: RiskUnitOfWork, clock: Clock, events: Sequence[CloudEvent], *, source: str, scoring: Scoring | None = None
) -> BatchResult:
    """Apply the events not applied before; state, facts, scores, claims and outgoing events commit together.

    Scores are assessed at each customer's latest event time, not at the wall clock: replaying
    history then gives the same statuses as living through it. The passage of time afterwards
    (lapsing, behavioural churn) is the scheduled assessor's job.

    From `winback.consent` only `customer.erased` matters: the customer is deleted and a tombstone
    kept, and the customer's events dated up to the erasure are ignored from then on (replays too).
    """
    erased = [(e.data.customer_id, e.data.erased_at) for e in events if isinstance(e, CustomerErased)]
    customer_events = [e for e in events if e.type in INBOUND_TYPES]
    async with uow:
        if erased:
            await uow.erasures.record(erased)
            # Every customer row this batch may lock, in one key-ordered statement, before the delete:
            # deleting first took those rows out of key order, and the assessor, locking its page in
            # key order, deadlocked with the batch (the 20,000-customer simulation's assessor crash).
            await uow.customers.load_for_update(
                {c for c, _ in erased} | {e.customer_id for e in customer_events if e.customer_id}
            )
            await uow.customers.delete([c for c, _ in erased])
        claimed = await uow.inbox.claim(customer_events)
        fresh = await uow.erasures.drop_erased_history(claimed)
        if not fresh:
            # The erasures and the claims of erased history are kept.
            await uow.commit()
            return BatchResult(0, 0)
        # Customer rows are locked first, in key order, so two consumers holding the same customers
        # for a moment (a rebalance) queue instead of deadlocking on the facts' unique keys.
        # Each event's customer read once for the batch: a pydantic attribute costs ~0.15 us a read.
        ids = [e.customer_id for e in fresh]
        states = await uow.customers.load_for_update({c for c in ids if c})
        # Then the facts: an order, return, ticket or contract event the customer has already (by
        # its business key, whatever the event id or source) is folded into nothing, totals included.
        order_facts, signal_facts = facts_of_batch(fresh)
        stored = await uow.facts.insert_orders(order_facts)
        stored |= await uow.facts.insert_signals(signal_facts)
        folded = first_statements(fresh, stored)
        # All of them (in order) or some: the ids read above belong to `fresh`.
        groups = by_customer(folded, ids if len(folded) == len(fresh) else None)
        customer_ids = sorted(groups)
        event_changes = apply_groups(states, groups)
        remember_latest_events(states, fresh, ids)
        touched = [states[c] for c in customer_ids]
        changes, assessed = event_changes, []
        if scoring is not None:
            moments = [s.last_event_time or clock.now() for s in touched]
            facts = await assessment.load_facts(uow.facts, touched, moments)
            # Status changes leave from the batch's final state: after scoring, with what it assessed.
            outcome = assessment.score_states(
                touched, facts, moments, scoring.model, scoring.config,
                horizon_days=scoring.horizon_days, basis=scoring.basis, source=source, changes=event_changes,
            )  # fmt: skip
            changes, assessed = outcome.changes, outcome.assessed
        await uow.customers.save(touched, clock.now())
        # Only status changes ask whether their trigger was applied here.
        applied = {e.identity for e in fresh} if changes else set()
        messages = [
            CONTRACT.message(status_changed_event(c, source, position_of(c, states.get(c.customer_id), applied)))
            for c in changes
        ]
        messages += [CONTRACT.message(e) for e in assessed]
        await uow.outbox.add(messages)
        # Last: the single progress row stays locked until commit, and concurrent consumers queue on it.
        await uow.customers.advance_progress(max(e.time for e in fresh))
        await uow.commit()
    APPLIED.inc(len(fresh))
    for change in changes:
        STATUS_CHANGES.labels(change.to_status).inc()
    return BatchResult(len(fresh), len(changes), len(messages))
