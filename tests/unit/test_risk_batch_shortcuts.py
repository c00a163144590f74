"""The batch's shortcuts give what the plain forms they replaced gave (hypothesis, old code as reference).

`first_statements` returns every event when each states a new fact of its own; `by_customer` and
`remember_latest_events` take the customer ids the batch read once; `apply_groups` appends to one
list instead of one per event.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from winback_risk.domain.customer import CustomerState, StatusChange
from winback_risk.domain.facts import FactKey, fact_key, facts_of_batch, first_statements
from winback_risk.domain.lifecycle import (
    _TIME,
    RETURN_TYPES,
    _move,
    apply_cancellation,
    apply_groups,
    apply_return,
    by_customer,
    record_facts,
)
from winback_risk.service_layer.handlers import remember_latest_events
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ContractCancelled
from winback_shared.events.registry import parse_event

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_ids = itertools.count()


def reference_first_statements(events: Iterable[CloudEvent], stored: set[FactKey]) -> list[CloudEvent]:
    kept: list[CloudEvent] = []
    folded: set[FactKey] = set()
    for event in events:
        key = fact_key(event)
        if key is None:
            kept.append(event)
        elif key in stored and key not in folded:
            folded.add(key)
            kept.append(event)
    return kept


def reference_by_customer(events: Iterable[CloudEvent]) -> dict[str, list[CloudEvent]]:
    groups: dict[str, list[CloudEvent]] = {}
    for event in events:
        if event.customer_id is not None:
            groups.setdefault(event.customer_id, []).append(event)
    for group in groups.values():
        group.sort(key=_TIME)
    return groups


def reference_apply_event(state: CustomerState, event: CloudEvent) -> list[StatusChange]:
    changes: list[StatusChange] = []
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
    return changes


def reference_apply_groups(states: dict[str, CustomerState], groups: dict[str, list[CloudEvent]]) -> list[StatusChange]:
    changes: list[StatusChange] = []
    for customer_id, group in groups.items():
        state = states.setdefault(customer_id, CustomerState(customer_id=customer_id))
        for event in group:
            changes.extend(reference_apply_event(state, event))
    return changes


@st.composite
def events(draw: st.DrawFn) -> CloudEvent:
    kind = draw(st.sampled_from(["order.placed", "order.placed", "order.placed", "customer.upserted", "order.returned",
                                 "contract.started", "contract.renewed", "contract.cancelled", "ticket.opened",
                                 "campaign.response"]))  # fmt: skip
    data: dict[str, Any] = {"customer_id": draw(st.sampled_from(["c1", "c2", "c3"]))}
    ref = draw(st.sampled_from(["1", "2", "3"]))
    if kind == "order.placed":
        data |= {"order_id": f"o{ref}" if draw(st.booleans()) else f"o-{next(_ids)}", "amount": "10.50"}
    elif kind == "order.returned":
        data |= {"order_id": f"o{ref}", "amount": "2.25"}
    elif kind.startswith("contract."):
        data["contract_id"] = f"k{ref}"
        if kind == "contract.cancelled":
            data["reason_code"] = draw(st.sampled_from(["price", "fraud", "other"]))
    elif kind == "ticket.opened":
        data["ticket_id"] = f"t{ref}"
    elif kind == "campaign.response":
        data |= {"action_id": f"a{ref}", "outcome": draw(st.sampled_from(["opened", "bounced"]))}
    time = T0 + timedelta(days=draw(st.integers(-30, 30)))
    return parse_event({"specversion": "1.0", "id": f"e{next(_ids)}", "source": "/test", "type": kind,
                        "time": time.isoformat(), "data": data})  # fmt: skip


batches = st.lists(events(), max_size=30)


@settings(max_examples=300)
@given(batches, st.data())
def test_first_statements_as_before(batch: list[CloudEvent], data: st.DataObject) -> None:
    orders, signals = facts_of_batch(batch)
    keys = [("order", o.customer_id, o.order_id) for o in orders]
    keys += [(s.kind, s.customer_id, s.key) for s in signals if s.key is not None]
    # All new (the shortcut's case when no key repeats and every event has one), or some stored before.
    subset = st.lists(st.sampled_from(keys)) if keys else st.just([])
    stored: set[FactKey] = set(keys) if data.draw(st.booleans()) else set(data.draw(subset))
    assert first_statements(batch, stored) == reference_first_statements(batch, stored)


@settings(max_examples=300)
@given(st.lists(events().filter(lambda e: e.type == "order.placed"), max_size=30, unique_by=lambda e: e.data.order_id))
def test_first_statements_of_new_orders_are_all_of_them(batch: list[CloudEvent]) -> None:
    orders, _ = facts_of_batch(batch)
    stored = {("order", o.customer_id, o.order_id) for o in orders}
    assert first_statements(batch, stored) == reference_first_statements(batch, stored) == batch


@settings(max_examples=300)
@given(batches)
def test_grouping_and_folding_as_before(batch: list[CloudEvent]) -> None:
    ids = [e.customer_id for e in batch]
    expected = reference_by_customer(batch)
    assert by_customer(batch) == by_customer(batch, ids) == expected
    states = {"c1": CustomerState("c1", status="churned", status_since=T0, churned_at=T0)}
    reference_states = copy.deepcopy(states)
    assert apply_groups(states, by_customer(batch, ids)) == reference_apply_groups(reference_states, expected)
    assert states == reference_states
    remember_latest_events(states, batch, ids)
    remember_latest_events(reference_states, batch)
    assert states == reference_states
