"""`record_facts` writes its minima and maxima out: it folds like the plain min/max form it replaced."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from winback_risk.domain.customer import CustomerState
from winback_risk.domain.lifecycle import RETURN_TYPES, record_facts
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CustomerUpserted, OrderPlaced, OrderReturned
from winback_shared.events.registry import parse_event

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_ids = itertools.count()
_ZERO = Decimal(0)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def reference_record_facts(state: CustomerState, event: CloudEvent) -> None:
    """The fold as it was written before (one helper call per minimum and maximum)."""
    t = event.time
    if isinstance(event, CustomerUpserted) and (state.last_event_time is None or t >= state.last_event_time):
        state.kind = event.data.kind
    elif isinstance(event, OrderPlaced):
        data = event.data
        state.orders += 1
        state.revenue += data.amount
        state.margin += data.margin or _ZERO
        state.first_order_at = _earlier(state.first_order_at, t)
        state.last_order_at = _later(state.last_order_at, t)
    elif isinstance(event, OrderReturned) and event.data.amount is not None:
        state.revenue -= event.data.amount
    if event.type in RETURN_TYPES:
        state.last_return_at = _later(state.last_return_at, t)
    state.first_seen_at = _earlier(state.first_seen_at, t)
    state.last_event_time = _later(state.last_event_time, t)


AMOUNTS = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def events(draw: st.DrawFn) -> CloudEvent:
    kind = draw(st.sampled_from(["order.placed", "customer.upserted", "order.returned", "contract.renewed",
                                 "contract.started", "ticket.opened"]))  # fmt: skip
    data: dict[str, Any] = {"customer_id": "c1"}
    if kind == "order.placed":
        data |= {"order_id": f"o{next(_ids)}", "amount": str(draw(AMOUNTS))}
        margin = draw(st.none() | AMOUNTS)
        if margin is not None:
            data["margin"] = str(margin)
    elif kind == "customer.upserted":
        data["kind"] = draw(st.sampled_from(["consumer", "business"]))
    elif kind == "order.returned":
        data["order_id"] = "o1"
        amount = draw(st.none() | AMOUNTS)
        if amount is not None:
            data["amount"] = str(amount)
    elif kind.startswith("contract."):
        data["contract_id"] = "k1"
    else:
        data["ticket_id"] = "t1"
    time = T0 + timedelta(hours=draw(st.integers(-1000, 1000)))
    return parse_event({"specversion": "1.0", "id": f"e{next(_ids)}", "source": "/test", "type": kind,
                        "time": time.isoformat(), "data": data})  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(events(), max_size=12))
def test_record_facts_folds_like_the_min_max_form(batch: list[CloudEvent]) -> None:
    fast, reference = CustomerState(customer_id="c1"), CustomerState(customer_id="c1")
    for event in batch:
        record_facts(fast, event)
        reference_record_facts(reference, event)
    assert asdict(fast) == asdict(reference)
    assert [str(fast.revenue), str(fast.margin)] == [str(reference.revenue), str(reference.margin)]
