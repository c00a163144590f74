"""Risk's batch flow with a fake unit of work (cosmicpython's test_handlers): facts, state, inbox, outbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tests.support.fakes import Store
from tests.support.risk_fakes import FakeRiskUnitOfWork, RiskState, risk_store
from tests.unit.test_risk_lifecycle import at, event
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.population import PRIOR, PopulationModel
from winback_risk.domain.scoring import RiskConfig
from winback_risk.service_layer.assessor import assess_all
from winback_risk.service_layer.handlers import BatchResult, Scoring, apply_events
from winback_shared.clock import FixedClock
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import CustomerErased, CustomerStatusChanged
from winback_shared.events.registry import parse_event_json

SOURCE = "/winback/risk"
# A fitted-looking model with value tiers (bench/risk/handler.py's), so tiers and segments are assessed.
MODEL = PopulationModel(
    purchases=PRIOR.purchases, spend=GammaGamma(p=6.25, q=3.74, gamma=15.44), tier_cutoffs=(400.0, 150.0)
)
SCORING = Scoring(MODEL, RiskConfig(), 90, "margin")


async def apply(store: Store[RiskState], events: list[CloudEvent], **kw: Any) -> BatchResult:
    return await apply_events(FakeRiskUnitOfWork(store), FixedClock(at(400)), events, source=SOURCE, **kw)


def published(store: Store[RiskState], event_type: str) -> list[Any]:
    return [parse_event_json(m.payload) for m in store.state.outbox if m.event_type == event_type]


async def test_a_batch_of_orders_stores_each_fact_and_saves_every_customer_once() -> None:
    store = risk_store()
    batch = [event("order.placed", 0, "a", order_id="o1"), event("order.placed", 3, "b", order_id="o1")]
    batch += [event("order.placed", 5, "a", order_id="o2", amount="25.50")]

    result = await apply(store, batch)

    # Two customers seen for the first time: each becomes active, nothing else is published unscored.
    assert result == BatchResult(applied=3, status_changes=2, published=2)
    assert [(e.data.customer_id, e.data.to) for e in published(store, "customer.status_changed")] == [
        ("a", "active"),
        ("b", "active"),
    ]
    assert sorted(store.state.orders) == [("a", "o1"), ("a", "o2"), ("b", "o1")]
    assert store.state.saves == [["a", "b"]]
    a = store.state.customers["a"]
    assert (a.orders, a.revenue, a.first_order_at, a.last_order_at) == (2, Decimal("35.50"), at(0), at(5))
    assert (a.last_event_source, a.last_event_id) == batch[2].identity
    assert store.state.highest_event_time == at(5)
    assert store.state.processed == {e.identity for e in batch}
    assert store.commits == 1


async def test_a_replayed_event_and_the_same_order_under_a_new_id_change_nothing() -> None:
    store = risk_store()
    order = event("order.placed", 0, "a", order_id="o1")
    await apply(store, [order])
    before = store.state.customers["a"]

    assert await apply(store, [order]) == BatchResult(0, 0)
    resent = event("order.placed", 1, "a", order_id="o1", amount="99.00")  # another event id, same order
    assert await apply(store, [resent]) == BatchResult(applied=1, status_changes=0, published=0)
    assert len(store.state.outbox) == 1  # the first batch's "active" only

    after = store.state.customers["a"]
    assert (after.orders, after.revenue) == (before.orders, before.revenue) == (1, Decimal("10.00"))
    assert list(store.state.orders) == [("a", "o1")]


async def test_a_churn_is_published_with_what_the_batch_scored_and_names_its_cause() -> None:
    store = risk_store()
    history = [event("order.placed", d, "a", order_id=f"o{d}", amount="120.00") for d in range(0, 300, 30)]
    cancel = event("contract.cancelled", 310, "a", reason_code="price")

    result = await apply(store, [*history, cancel], scoring=SCORING)

    first, churn = published(store, "customer.status_changed")
    state = store.state.customers["a"]
    assert isinstance(churn, CustomerStatusChanged)
    assert [(c.data.from_, c.data.to) for c in (first, churn)] == [(None, "active"), ("active", "churned")]
    assert (state.status, churn.data.churn_reason, state.value_tier) == ("churned", "price", "A")
    # Both leave from the batch's final state: the tier, segment and score this batch assessed and saved.
    for change in (first, churn):
        assert (change.data.value_tier, change.data.segment) == (state.value_tier, state.segment)
        assert (change.data.risk_score, change.data.winback_probability) == (
            state.risk_score,
            state.winback_probability,
        )
    assert churn.data.caused_by is not None
    assert (churn.data.caused_by.source, churn.data.caused_by.id) == cancel.identity
    assert result == BatchResult(applied=11, status_changes=2, published=3)  # and one customer.risk_assessed


async def test_an_erasure_deletes_state_and_facts_and_keeps_older_events_out() -> None:
    store = risk_store()
    await apply(store, [event("order.placed", 0, "a"), event("ticket.opened", 1, "a"), event("order.placed", 0, "b")])
    erased = CustomerErased.new(source="/winback/consent", time=at(2), data={"customer_id": "a", "erased_at": at(2)})

    await apply(store, [erased])
    replayed = event("order.placed", 1, "a", order_id="o-old")
    assert await apply(store, [replayed]) == BatchResult(0, 0)

    assert (sorted(store.state.customers), list(store.state.orders), store.state.signals) == (["b"], [("b", "o0")], [])
    assert store.state.tombstones == {"a": at(2)}
    assert replayed.identity in store.state.processed  # claimed, so a redelivery is not looked at again
    await apply(store, [event("order.placed", 3, "a", order_id="o-new")])
    assert store.state.customers["a"].orders == 1  # a new relationship, nothing from before


async def test_the_assessor_rescores_page_by_page_and_publishes_the_silent_customers_churn() -> None:
    store = risk_store()
    orders = {c: [event("order.placed", d, c, order_id=f"o{d}") for d in (0, 7, 14)] for c in "abc"}
    await apply(store, [e for c in "abc" for e in orders[c]])
    store.state.outbox.clear()

    count = await assess_all(
        FakeRiskUnitOfWork(store), at(14) + timedelta(days=365), SCORING, source=SOURCE, page_size=2
    )

    # A year without orders: each churns, naming its latest applied event (no event caused it).
    changes = [
        (e.data.customer_id, e.data.from_, e.data.to, e.data.caused_by)
        for e in published(store, "customer.status_changed")
    ]
    assert [(c, f, t, (by.source, by.id)) for c, f, t, by in changes] == [
        (c, "active", "churned", orders[c][-1].identity) for c in "abc"
    ]
    assert [m.event_type for m in store.state.outbox] == [
        *["customer.status_changed"] * 2,
        *["customer.risk_assessed"] * 2,  # page a, b
        "customer.status_changed",
        "customer.risk_assessed",  # page c
    ]
    assert (store.state.saves[-2:], store.commits, count) == ([["a", "b"], ["c"]], 3, 6)
