"""Status changes name the customer event they rest on (`caused_by`), so readers never act ahead of it."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_risk_lifecycle import at, event
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.lifecycle import apply_assessment, apply_batch
from winback_risk.service_layer.handlers import position_of, remember_latest_events, status_changed_event


def test_an_event_caused_change_names_its_trigger() -> None:
    states: dict[str, CustomerState] = {}
    profile, cancel, ticket = event("customer.upserted", 0), event("contract.cancelled", 1), event("ticket.opened", 2)
    changes = apply_batch(states, [profile, cancel, ticket])
    remember_latest_events(states, [profile, cancel, ticket])
    churn = next(c for c in changes if c.to_status == "churned")
    applied = {e.identity for e in (profile, cancel, ticket)}
    published = status_changed_event(churn, "/winback/risk", position_of(churn, states["c1"], applied))
    assert published.data.caused_by is not None
    assert (published.data.caused_by.source, published.data.caused_by.id) == cancel.identity


def test_latest_applied_event_is_by_topic_order_not_event_time() -> None:
    states: dict[str, CustomerState] = {}
    newer, late = event("customer.upserted", 5), event("ticket.opened", 1)  # `late` arrived last, happened first
    apply_batch(states, [newer, late])
    remember_latest_events(states, [newer, late])
    assert (states["c1"].last_event_source, states["c1"].last_event_id) == late.identity


def test_a_change_from_the_passage_of_time_names_the_latest_applied_event() -> None:
    states: dict[str, CustomerState] = {}
    order, ticket = event("order.placed", 0), event("ticket.opened", 3)
    apply_batch(states, [order, ticket])
    remember_latest_events(states, [order, ticket])
    lapse = apply_assessment(states["c1"], "lapsed", ("overdue",), at(0) + timedelta(days=200))
    assert lapse is not None
    assert position_of(lapse, states["c1"], set()) == ticket.identity
    assert status_changed_event(lapse, "/winback/risk", ticket.identity).data.caused_by is not None


def test_a_customer_risk_knows_no_event_of_names_nothing() -> None:
    state = CustomerState("c9", status="active", status_since=at(0))
    lapse = apply_assessment(state, "lapsed", ("overdue",), at(100))
    assert lapse is not None
    assert position_of(lapse, state, set()) is None
    assert status_changed_event(lapse, "/winback/risk").data.caused_by is None
