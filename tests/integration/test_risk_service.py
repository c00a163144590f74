"""The risk service as a process: events in on winback.events, status out via API and winback.risk."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.polling import eventually
from winback_cli.servers import free_port
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_shared.contracts import add_months
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def risk(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated risk service on a free port; yields its base URL."""
    spec = ServiceSpec("risk", 8002)
    port = free_port()
    env = service_env(bootstrap=kafka_bootstrap, database_url=database_url, port=port, extra={"WINBACK_ENV": "test"})
    migrate(spec, env)
    log: Path = tmp_path_factory.mktemp("risk") / "risk.log"
    service = ServiceProcess(spec, port, env, log_path=log)
    service.start()
    try:
        service.wait_ready(60)
        yield service.url
    finally:
        service.stop()


@pytest.fixture
async def api(risk: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=risk, headers=ADMIN, timeout=10) as client:
        yield client


def cloud_event(event_type: str, customer_id: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/test/crm",
        "type": event_type,
        "time": at.isoformat(),
        "data": {"customer_id": customer_id, **data},
    }


async def produce(bootstrap: str, *events: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for event in events:
            key = event["data"]["customer_id"].encode()
            await producer.send_and_wait(Topic.EVENTS.value, json.dumps(event).encode(), key=key)
    finally:
        await producer.stop()


async def risk_events(
    bootstrap: str, customer_id: str, *, idle_s: float = 2.0, event_type: str = "customer.status_changed"
) -> list[dict[str, Any]]:
    """Every event of the type on winback.risk for the customer, read from the start until idle."""
    consumer = AIOKafkaConsumer(
        Topic.RISK.value, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        while True:
            polled = await consumer.getmany(timeout_ms=int(idle_s * 1000))
            if not polled:
                return found
            for records in polled.values():
                for record in records:
                    event = json.loads(record.value)
                    if event["data"]["customer_id"] == customer_id and event["type"] == event_type:
                        assert record.key == customer_id.encode()
                        found.append(event)
    finally:
        await consumer.stop()


async def wait_for(api: httpx.AsyncClient, customer_id: str, check: Any, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        response = await api.get(f"/v1/customers/{customer_id}")
        last = response.json()
        if response.status_code == 200 and check(last):
            return dict(last)
        await asyncio.sleep(0.1)
    raise AssertionError(f"customer {customer_id} never matched; last answer {last}")


async def test_cancellation_churns_the_customer_and_publishes_one_status_change(
    api: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    notice = T0 + timedelta(days=30)
    await produce(
        kafka_bootstrap,
        cloud_event("order.placed", "c-churn", T0, order_id="o1", amount="49.90"),
        cloud_event("contract.cancelled", "c-churn", notice, contract_id="k1", reason_code="price",
                    effective_date="2024-06-30"),
    )  # fmt: skip
    customer = await wait_for(api, "c-churn", lambda c: c["status"] == "churned")
    assert customer["churn_reason"] == "price" and customer["winback_eligible"] is True
    assert datetime.fromisoformat(customer["status_since"]) == notice
    assert customer["buying_cycle"]["orders"] == 1
    assert datetime.fromisoformat(customer["buying_cycle"]["last_order_at"]) == T0
    assert customer["value"]["revenue"] == "49.9" and 0 <= customer["risk_score"] <= 1
    # No fit yet (too few customers): the prior scores, but value tiers and segments need a fit.
    assert customer["segment"] is None and customer["value"]["value_tier"] is None

    changes = await risk_events(kafka_bootstrap, "c-churn")
    churned = [e for e in changes if e["data"]["to"] == "churned"]
    assert len(churned) == 1, changes
    [event] = churned
    assert event["type"] == "customer.status_changed" and event["source"] == "/winback/risk"
    assert event["data"]["from"] == "active" and event["data"]["churn_reason"] == "price"
    assert event["data"]["winback_eligible"] is True and event["data"]["reasons"] == ["contract.cancelled"]
    assert datetime.fromisoformat(event["data"]["at"]) == notice
    assert [e["data"]["to"] for e in changes] == ["active", "churned"]


async def test_the_same_event_twice_changes_the_status_once(api: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    cancelled = cloud_event("contract.cancelled", "c-twice", T0, contract_id="k9", reason_code="fraud")
    await produce(kafka_bootstrap, cancelled)
    await wait_for(api, "c-twice", lambda c: c["status"] == "churned")
    # The duplicate, then a later order on the same key: once the order shows, the duplicate was consumed.
    later_order = cloud_event("order.placed", "c-twice", T0 + timedelta(days=3), order_id="o9", amount="5")
    await produce(kafka_bootstrap, cancelled, later_order)
    await wait_for(api, "c-twice", lambda c: c["buying_cycle"]["orders"] == 1)
    # As of the return; today, two years without another order make the customer churned again.
    params = {"as_of": (T0 + timedelta(days=4)).isoformat()}
    customer = (await api.get("/v1/customers/c-twice", params=params)).json()
    assert customer["status"] == "won_back" and customer["winback_eligible"] is False
    today = (await api.get("/v1/customers/c-twice")).json()
    assert today["status"] == "churned" and today["winback_probability"] == 0

    changes = await risk_events(kafka_bootstrap, "c-twice")
    moves = [(e["data"]["to"], e["data"]["reasons"]) for e in changes]
    assert [to for to, _ in moves[:3]] == ["active", "churned", "won_back"], moves
    # The scheduled assessor may already have scored the customer at today's date: behavioural churn, once.
    assert moves[3:] in ([], [("churned", ["p_alive_below_threshold"])]), moves


async def test_list_progress_and_errors(api: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    await produce(
        kafka_bootstrap,
        *[cloud_event("ticket.opened", f"c-list-{i}", T0 + timedelta(days=90), ticket_id="t") for i in range(3)],
    )
    for i in range(3):
        await wait_for(api, f"c-list-{i}", lambda c: c["status"] == "active")

    response = await api.get("/v1/customers", params={"status": "active", "limit": 2})
    assert response.status_code == 200, response.text
    first = response.json()
    assert [c["customer_id"] for c in first["items"]] == ["c-list-0", "c-list-1"] and first["next_cursor"]
    rest = await api.get("/v1/customers", params={"status": "active", "limit": 2, "cursor": first["next_cursor"]})
    assert [c["customer_id"] for c in rest.json()["items"]] == ["c-list-2"] and rest.json()["next_cursor"] is None
    ineligible = (await api.get("/v1/customers", params={"winback_eligible": "false"})).json()["items"]
    assert "c-twice" in {c["customer_id"] for c in ineligible} and "c-list-0" not in {
        c["customer_id"] for c in ineligible
    }

    echoed = (await api.get("/v1/customers/c-list-0", params={"as_of": "2024-06-01", "horizon_days": 30})).json()
    assert echoed["as_of"].startswith("2024-06-01T23:59:59") and echoed["horizon_days"] == 30

    progress = (await api.get("/v1/progress")).json()
    assert datetime.fromisoformat(progress["highest_event_time"]) == T0 + timedelta(days=90)
    assert progress["lag"] == 0
    # Per partition, from the broker: everything applied was committed, up to the log end.
    partitions = progress["partitions"]
    assert partitions and all(
        p["lag"] == 0 and p["committed_offset"] == p["end_offset"] for p in partitions if p["end_offset"]
    )
    applied_times = {
        datetime.fromisoformat(p["last_applied_event_time"]) for p in partitions if p["last_applied_event_time"]
    }
    assert T0 + timedelta(days=90) in applied_times

    bad_queries: list[tuple[str, dict[str, str | int]]] = [
        ("/v1/customers/c-list-0", {"horizon_days": 0}),
        ("/v1/customers/c-list-0", {"horizon_days": 3651}),
        ("/v1/customers/c-list-0", {"as_of": "2024-06-01T10:00:00"}),
        ("/v1/customers", {"limit": 1001}),
        ("/v1/customers", {"status": "sleeping"}),
        ("/v1/customers", {"cursor": "!!"}),
    ]
    for path, params in bad_queries:
        response = await api.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    missing = await api.get("/v1/customers/nobody")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        assert (await anonymous.get("/v1/customers/c-list-0")).status_code == 401
        forbidden = await anonymous.get("/v1/progress", headers={"Authorization": "Bearer dev-ingest-key"})
        assert forbidden.status_code == 403


async def test_fit_on_demand_scores_tiers_and_replay_as_of(api: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    events = []
    for i in range(40):
        every = 7 + 3 * i  # from weekly to every four months
        for k in range(2 + i % 5):
            at = T0 + timedelta(days=every * k, hours=i % 3)
            events.append(cloud_event("order.placed", f"c-fit-{i:02}", at, order_id=f"o{k}", amount=str(10 + i)))
    # A second order on the same day is the same purchase occasion.
    events.append(cloud_event("order.placed", "c-fit-00", T0 + timedelta(hours=5), order_id="same-day", amount="1"))
    await produce(kafka_bootstrap, *events)
    # Every customer: their partitions may be consumed by different consumers, at different times.
    for i in range(40):
        expected = 2 + i % 5 + (1 if i == 0 else 0)
        await wait_for(api, f"c-fit-{i:02}", lambda c, n=expected: c["buying_cycle"]["orders"] == n)

    fitted = await api.post("/v1/model/fit")
    assert fitted.status_code == 200, fitted.text
    model = (await api.get("/v1/model")).json()
    assert model["name"] == "pareto_nbd+gamma_gamma" and model["customers_used"] >= 40
    assert set(model["parameters"]["purchases"]) == {"r", "alpha", "s", "beta"} and model["fitted_at"]
    assert model["log_likelihood"] < 0

    as_of = (T0 + timedelta(days=30)).isoformat()
    weekly = (await api.get("/v1/customers/c-fit-00", params={"as_of": as_of, "horizon_days": 30})).json()
    assert weekly["buying_cycle"]["orders"] == 3  # 2 occasions, the same-day order counted as an order
    assert weekly["value"]["value_tier"] in {"A", "B", "C"} and weekly["segment"] is not None
    assert 0 < weekly["p_alive"] <= 1 and weekly["expected_orders"] > 0
    # As of before the customer's first event, risk did not know them.
    early = await api.get("/v1/customers/c-fit-00", params={"as_of": (T0 - timedelta(days=1)).isoformat()})
    assert early.status_code == 404
    # After the fit the assessor re-scores everyone at now: the stored tier filters the list.
    # These customers last bought in 2024, so at now every one of them has left (churned by
    # behaviour): their expectations are ~0 and their tiers rank their value if won back. The
    # cut-offs are quantiles of that same value over the whole base (README "Model"), so the top
    # ~20 % are A and the next ~30 % B, not all of them A as when the cut-offs were quantiles of
    # the near-zero expectations. They never fall below the floors (a quarter typical order for B).
    cut_a, cut_b = model["parameters"]["tier_cutoffs"]
    assert cut_a >= cut_b >= 0.25 * 10

    async def by_filter() -> dict[str, set[str]]:
        found = {}
        for tier in "ABC":
            items = (await api.get("/v1/customers", params={"value_tier": tier, "limit": 1000})).json()["items"]
            found[tier] = {c["customer_id"] for c in items if c["customer_id"].startswith("c-fit-")}
        return found

    def decision_value(customer: dict[str, Any]) -> float | None:
        # Churned and lapsed customers rank by their value if won back, the others by their
        # expected 12 months (README "Value of a relationship").
        value = customer["value"]
        leaving = customer["status"] in {"churned", "lapsed"}
        found: float | None = value["predicted_value_if_retained_12m"] if leaving else value["predicted_clv_12m"]
        return found

    def tier_of(customer: dict[str, Any]) -> str:
        value = decision_value(customer)
        assert value is not None
        return "A" if value >= cut_a else "B" if value >= cut_b else "C"

    everyone = (await api.get("/v1/customers", params={"limit": 1000})).json()["items"]
    fit_customers = [c for c in everyone if c["customer_id"].startswith("c-fit-")]
    assert {c["status"] for c in fit_customers} == {"churned"}
    # The base the cut-offs ranked: every customer with a decision value at the fit (the 40, and the
    # module's earlier buyers c-churn and c-twice when those tests ran first).
    ranked = [c for c in everyone if decision_value(c) is not None]
    assert len(ranked) == model["statistics"]["customers_ranked"]
    # Quantiles 0.8 and 0.5 over n distinct values: exactly these many at or above each cut-off.
    counts = {40: {"A": 8, "B": 12, "C": 20}, 42: {"A": 9, "B": 12, "C": 21}}[len(ranked)]
    by_value = sorted(ranked, key=lambda c: -float(decision_value(c) or 0.0))
    assert [tier_of(c) for c in by_value] == ["A"] * counts["A"] + ["B"] * counts["B"] + ["C"] * counts["C"]
    expected = {t: {c["customer_id"] for c in fit_customers if tier_of(c) == t} for t in "ABC"}
    # The 40: exact counts (the earlier buyers, when present, rank below B: one order each).
    assert {t: len(ids) for t, ids in expected.items()} == (
        {"A": 9, "B": 12, "C": 19} if len(ranked) == 42 else {"A": 8, "B": 12, "C": 20}
    )
    await eventually(by_filter, lambda found: found == expected)
    bad = await api.get("/v1/customers", params={"value_tier": "D"})
    assert bad.status_code == 422


async def test_a_business_canceller_is_valued_by_the_relationship_and_published_as_tier_a(
    api: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    """Issue 13, findings 1 and 2, through the broker: contract payments count, tier and segment as assessed.

    The service's clock is the real one and its assessor re-scores everyone at now: the business
    customer's history ends now, so no assessment at now runs ahead of the cancellation.
    """
    rng = random.Random(13)
    base = []
    for i in range(60):  # ordinary consumers: a few orders of 15-90 EUR in 2023
        for k in range(rng.randint(1, 6)):
            at = datetime(2023, 1, 1, 10, tzinfo=UTC) + timedelta(days=rng.randint(0, 400))
            base.append(cloud_event("order.placed", f"c-base-{i:02}", at, order_id=f"o{k}",
                                    amount=str(rng.randint(15, 90)), margin="9.00"))  # fmt: skip
    notice = datetime.now(UTC).replace(microsecond=0)
    # 20 orders of 2,400 EUR every 30 days up to 3 days before the notice, and a 4,000 EUR/month contract
    # whose 20th monthly period began before the notice (the 21st would begin a day after it).
    orders = [
        cloud_event("order.placed", "c-business", notice - timedelta(days=3 + 30 * k), order_id=f"b{k}",
                    amount="2400.00", margin="720.00")
        for k in range(20)
    ]  # fmt: skip
    start = add_months(notice, -20) + timedelta(days=1)
    started = cloud_event("contract.started", "c-business", start, contract_id="k-b", monthly_value="4000.00")
    await produce(kafka_bootstrap, *base, *orders, started)
    for i in range(60):
        await wait_for(api, f"c-base-{i:02}", lambda c: c["buying_cycle"]["orders"] >= 1)
    await wait_for(api, "c-business", lambda c: c["buying_cycle"]["orders"] == 20)
    assert (await api.post("/v1/model/fit")).status_code == 200

    effective = (notice + timedelta(days=90)).date().isoformat()
    await produce(
        kafka_bootstrap,
        cloud_event("contract.cancelled", "c-business", notice, contract_id="k-b", reason_code="competitor",
                    competitor="Wettbewerber GmbH", effective_date=effective),
    )  # fmt: skip
    await wait_for(api, "c-business", lambda c: c["status"] == "churned")
    customer = (await api.get("/v1/customers/c-business", params={"as_of": notice.isoformat()})).json()
    value = customer["value"]
    assert customer["status"] == "churned" and customer["churned_at"] == notice.isoformat()
    # Orders 48,000 + 20 contract payments; the 12 months before the notice: 13 orders (365 days) and 12 payments.
    assert (value["revenue"], value["margin"]) == ("128000", "94400")
    assert (value["revenue_12m_before_churn"], value["margin_12m_before_churn"]) == ("79200", "57360")
    assert datetime.fromisoformat(value["window_12m_end"]) == notice
    # If won back: at least a year of the contract (margin basis: the orders' margins are shrunk towards the
    # base's); after the notice only the payments until the effective date and the orders the model expects.
    assert value["predicted_value_if_retained_12m"] > 48_000 and value["predicted_clv_12m"] < 40_000
    assert (value["value_tier"], customer["segment"], customer["churn_reason"]) == ("A", "star", "competitor")

    # The status change the cancellation caused carries what the same batch assessed.
    [churned] = [e["data"] for e in await risk_events(kafka_bootstrap, "c-business") if e["data"]["to"] == "churned"]
    assert (churned["value_tier"], churned["segment"], churned["churn_reason"]) == ("A", "star", "competitor")
    assert churned["winback_eligible"] is True and churned["winback_probability"] == pytest.approx(0.3)
    assert churned["revenue_12m_before_churn"] == "79200"
    assert float(churned["predicted_value_if_retained_12m"]) == value["predicted_value_if_retained_12m"]
