"""Lifecycle rules of risk: transitions, churn reason, eligibility, late events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from winback_risk.domain.customer import CustomerState, Status
from winback_risk.domain.lifecycle import (
    apply_assessment,
    apply_batch,
    apply_event,
    churn_reason_of,
    is_winback_eligible,
)
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.registry import parse_event

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_ids = itertools.count()


def event(event_type: str, day: int, customer_id: str = "c1", **data: Any) -> CloudEvent:
    defaults: dict[str, dict[str, Any]] = {
        "order.placed": {"order_id": f"o{day}", "amount": "10.00"},
        "contract.cancelled": {"contract_id": "k1"},
        "contract.renewed": {"contract_id": "k1"},
        "contract.started": {"contract_id": "k2"},
        "ticket.opened": {"ticket_id": "t1"},
        "customer.upserted": {},
        "order.returned": {"order_id": "o1"},
    }
    return parse_event(
        {
            "specversion": "1.0",
            "id": f"e{next(_ids)}",
            "source": "/test",
            "type": event_type,
            "time": (T0 + timedelta(days=day)).isoformat(),
            "data": {"customer_id": customer_id, **defaults[event_type], **data},
        }
    )


def at(day: int) -> datetime:
    return T0 + timedelta(days=day)


def fold(*events: CloudEvent) -> tuple[CustomerState, list[tuple[Status | None, Status]]]:
    state = CustomerState(customer_id="c1")
    moves = [(c.from_status, c.to_status) for e in events for c in apply_event(state, e)]
    return state, moves


@pytest.mark.parametrize(
    ("reason", "no_contact", "eligible"),
    [
        (None, False, True),
        ("price", False, True),
        ("competitor", False, True),
        ("budget", False, True),
        ("other", False, True),
        ("company_initiated", False, False),
        ("insolvency", False, False),
        ("fraud", False, False),
        ("price", True, False),
        (None, True, False),
    ],
)
def test_winback_eligibility(reason: str | None, no_contact: bool, eligible: bool) -> None:
    assert is_winback_eligible(reason, no_contact) is eligible


def test_churn_reason_is_reason_code_or_unknown() -> None:
    assert churn_reason_of("price") == "price"
    assert churn_reason_of(None) == "unknown"


def test_first_event_makes_customer_active() -> None:
    state, moves = fold(event("ticket.opened", 0))
    assert moves == [(None, "active")]
    assert state.status == "active" and state.status_since == at(0)


def test_cancellation_churns_at_notice_with_reason_and_evidence() -> None:
    state, moves = fold(
        event("order.placed", 0),
        event("contract.cancelled", 5, reason_code="competitor", competitor="Acme", effective_date="2024-03-31"),
    )
    assert moves == [(None, "active"), ("active", "churned")]
    assert state.status == "churned" and state.status_since == at(5) and state.churned_at == at(5)
    assert state.churn_reason == "competitor" and state.winback_eligible is True and state.churn_count == 1
    assert state.churn_evidence is not None
    assert state.churn_evidence["effective_date"] == "2024-03-31"
    assert state.churn_evidence["competitor"] == "Acme"


def test_cancellation_as_first_event_reports_active_then_churned() -> None:
    state, moves = fold(event("contract.cancelled", 0))
    assert moves == [(None, "active"), ("active", "churned")]
    assert state.churn_reason == "unknown"


@pytest.mark.parametrize("reason", ["company_initiated", "insolvency", "fraud"])
def test_cancellation_for_excluded_reason_is_not_eligible(reason: str) -> None:
    state, _ = fold(event("contract.cancelled", 1, reason_code=reason))
    assert state.winback_eligible is False and state.churn_reason == reason


def test_no_contact_requested_makes_customer_ineligible() -> None:
    state, _ = fold(event("contract.cancelled", 1, reason_code="price", no_contact_requested=True))
    assert state.winback_eligible is False


@pytest.mark.parametrize("kind", ["order.placed", "contract.renewed", "contract.started"])
def test_churned_customer_who_buys_again_is_won_back(kind: str) -> None:
    state, moves = fold(event("order.placed", 0), event("contract.cancelled", 5), event(kind, 9))
    assert moves[-1] == ("churned", "won_back")
    assert state.status == "won_back" and state.won_back_at == at(9)
    assert state.churned_at == at(5), "the churn is kept after the return"
    assert state.days_to_winback == 4.0


def test_other_events_do_not_win_back() -> None:
    state, moves = fold(event("contract.cancelled", 1), event("ticket.opened", 2), event("customer.upserted", 3))
    assert state.status == "churned" and moves[-1] == ("active", "churned")


def test_re_churn_after_win_back_is_tracked() -> None:
    state, moves = fold(
        event("contract.cancelled", 1, reason_code="price"),
        event("order.placed", 2),
        event("contract.cancelled", 3, reason_code="fraud"),
    )
    assert moves[1:] == [("active", "churned"), ("churned", "won_back"), ("won_back", "churned")]
    assert state.churn_count == 2 and state.churn_reason == "fraud" and state.winback_eligible is False
    assert state.churned_at == at(3) and state.won_back_at == at(2)
    assert state.days_to_winback == 1.0, "the latest win-back's time is kept through a re-churn"


def test_second_notice_while_churned_only_tightens_eligibility() -> None:
    state, moves = fold(
        event("contract.cancelled", 1),
        event("contract.cancelled", 2, reason_code="price", no_contact_requested=True),
    )
    assert moves == [(None, "active"), ("active", "churned")]
    assert state.churned_at == at(1) and state.winback_eligible is False
    assert state.churn_reason == "price", "an unknown reason is filled in by a later notice"


def test_late_order_before_churn_does_not_win_back() -> None:
    state, moves = fold(event("contract.cancelled", 5), event("order.placed", 3))
    assert state.status == "churned" and moves[-1] == ("active", "churned")
    assert state.orders == 1 and state.last_order_at == at(3), "the late order still counts as a fact"


def test_late_cancellation_superseded_by_later_order_does_not_churn() -> None:
    state, moves = fold(event("ticket.opened", 0), event("order.placed", 6), event("contract.cancelled", 4))
    assert state.status == "active" and moves == [(None, "active")]


def test_late_cancellation_older_than_win_back_does_not_churn_again() -> None:
    state, _ = fold(event("contract.cancelled", 2), event("order.placed", 8), event("contract.cancelled", 5))
    assert state.status == "won_back" and state.churn_count == 1


def test_late_notice_churns_at_the_notice_even_after_a_later_assessment() -> None:
    # The weekly assessment moved the customer to at_risk on day 7 before risk had read the notice of
    # day 5: the notice still churns them, dated day 5, so win-back starts within its window.
    state = CustomerState(customer_id="c1")
    apply_event(state, event("order.placed", 0))
    assert apply_assessment(state, "at_risk", ("risk_score_above_threshold",), at(7)) is not None

    (change,) = apply_event(state, event("contract.cancelled", 5, reason_code="budget"))

    assert (change.from_status, change.to_status, change.at) == ("at_risk", "churned", at(5))
    assert state.status == "churned" and state.churned_at == at(5) and state.churn_reason == "budget"


def test_facts_accumulate_order_independently() -> None:
    state, _ = fold(
        event("order.placed", 10, amount="20.50", margin="5"),
        event("order.placed", 2, amount="10", margin="2.5"),
        event("order.returned", 11, amount="0.50"),
        event("customer.upserted", 12, kind="business"),
    )
    assert state.orders == 2
    assert state.revenue == Decimal("30.00") and state.margin == Decimal("7.5")
    assert state.first_order_at == at(2) and state.last_order_at == at(10)
    assert state.first_seen_at == at(2) and state.last_event_time == at(12)
    assert state.kind == "business"


def test_batch_applies_each_customers_events_in_event_time_order() -> None:
    # Offsets put the order first, event time puts the cancellation first: that is a win-back.
    states: dict[str, CustomerState] = {}
    changes = apply_batch(
        states,
        [event("order.placed", 9, "a"), event("contract.cancelled", 5, "a"), event("ticket.opened", 1, "b")],
    )
    assert [(c.customer_id, c.to_status) for c in changes] == [
        ("a", "active"),
        ("a", "churned"),
        ("a", "won_back"),
        ("b", "active"),
    ]
    assert states["a"].status == "won_back" and states["b"].status == "active"


def test_batch_continues_from_stored_state() -> None:
    states = {"a": CustomerState(customer_id="a", status="active", status_since=at(0), last_event_time=at(0))}
    changes = apply_batch(states, [event("contract.cancelled", 3, "a", reason_code="insolvency")])
    [change] = changes
    assert (change.from_status, change.to_status, change.at) == ("active", "churned", at(3))
    assert change.churn_reason == "insolvency" and change.winback_eligible is False
    assert change.reasons == ("contract.cancelled",)
