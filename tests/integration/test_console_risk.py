"""The console's risk endpoints against the real service: a customer's timeline and the segment overview."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_risk_service import cloud_event, produce
from tests.support.polling import eventually
from winback_cli.servers import free_port
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key"}
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=300)
STORY, MONTHLY = "r-story", "r-monthly"


@pytest.fixture(scope="module")
def risk(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    spec = ServiceSpec("risk", 8002)
    port = free_port()
    env = service_env(bootstrap=kafka_bootstrap, database_url=database_url, port=port, extra={"WINBACK_ENV": "test"})
    migrate(spec, env)
    log: Path = tmp_path_factory.mktemp("risk-console") / "risk.log"
    service = ServiceProcess(spec, port, env, log_path=log)
    service.start()
    try:
        service.wait_ready(60)
        yield service.url
    finally:
        service.stop()


def story() -> list[dict[str, Any]]:
    """A contract customer's life: orders, a return, tickets, a survey, usage, a response, then notice."""
    c, e = STORY, cloud_event
    return [
        e("contract.started", c, T0, contract_id="k1", product="pro", monthly_value="20.00", end_date="2027-01-01"),
        e("order.placed", c, T0 + timedelta(days=1), order_id="o1", amount="100.00", margin="30.00"),
        e("order.placed", c, T0 + timedelta(days=31), order_id="o2", amount="50.50"),
        e("order.returned", c, T0 + timedelta(days=33), order_id="o2", amount="10.25"),
        e("ticket.opened", c, T0 + timedelta(days=40), ticket_id="t1", category="complaint", priority="high"),
        e("ticket.resolved", c, T0 + timedelta(days=45), ticket_id="t1", outcome="unsolved", satisfaction=2),
        e("survey.answered", c, T0 + timedelta(days=46), survey="nps", score=3, comment="slow support"),
        e(
            "usage.reported",
            c,
            T0 + timedelta(days=60),
            metric="logins",
            value=12,
            period_start=(T0 + timedelta(days=30)).isoformat(),
            period_end=(T0 + timedelta(days=60)).isoformat(),
        ),
        e("campaign.response", c, T0 + timedelta(days=70), action_id="a1", outcome="reached"),
        e("contract.renewed", c, T0 + timedelta(days=80), contract_id="k1", end_date="2028-01-01"),
        e(
            "contract.cancelled",
            c,
            T0 + timedelta(days=90),
            contract_id="k1",
            effective_date="2027-06-30",
            reason_code="price",
            reason_text="too expensive",
        ),
    ]


def monthly_buyer() -> list[dict[str, Any]]:
    """Bought every 30 days for five months, then silent for five: lapsed against their own rhythm."""
    return [
        cloud_event("order.placed", MONTHLY, T0 + timedelta(days=30 * i), order_id=f"m{i}", amount="40")
        for i in range(6)
    ]


@pytest.fixture(scope="module")
async def api(risk: str, kafka_bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=risk, headers=ADMIN, timeout=30) as client:
        await produce(kafka_bootstrap, *story(), *monthly_buyer())
        await eventually(
            lambda: client.get(f"/v1/customers/{STORY}/timeline"),
            lambda r: r.status_code == 200 and len(r.json()["items"]) >= 13,
        )
        # Lapsing is found by the periodic assessment: a clock step wakes it.
        clock = (await client.get("/v1/clock")).json()["now"]
        await client.post("/v1/clock", json={"now": (datetime.fromisoformat(clock) + timedelta(seconds=1)).isoformat()})

        async def statuses() -> dict[str, str]:
            items = (await client.get("/v1/customers", params={"limit": 1000})).json()["items"]
            return {i["customer_id"]: i["status"] for i in items}

        await eventually(statuses, lambda s: s.get(MONTHLY) == "lapsed")
        yield client


async def test_timeline_holds_every_fact_newest_first(api: httpx.AsyncClient) -> None:
    body = (await api.get(f"/v1/customers/{STORY}/timeline")).json()
    assert body["customer_id"] == STORY and body["next_before"] is None
    facts = [(i["type"], i["ref"], i["details"]) for i in body["items"] if i["type"] != "status_changed"]
    assert facts == [
        ("contract_cancelled", "k1", {"contract_id": "k1", "reason_code": "price", "effective_date": "2027-06-30"}),
        ("contract_renewed", "k1", {"contract_id": "k1", "end_date": "2028-01-01"}),
        ("campaign_response", "a1", {"action_id": "a1", "outcome": "reached"}),
        ("usage_reported", "logins", {"metric": "logins", "value": 12.0}),
        ("survey_answered", None, {"survey": "nps", "score": 3}),
        ("ticket_resolved", "t1", {"ticket_id": "t1", "outcome": "unsolved", "satisfaction": 2}),
        ("ticket_opened", "t1", {"ticket_id": "t1", "category": "complaint"}),
        ("order_returned", "o2", {"order_id": "o2", "amount": "10.25"}),
        ("order_placed", "o2", {"order_id": "o2", "amount": "50.5", "margin": None}),
        ("order_placed", "o1", {"order_id": "o1", "amount": "100", "margin": "30"}),
        ("contract_started", "k1", {"contract_id": "k1", "monthly_value": "20", "end_date": "2027-01-01"}),
    ]
    times = [datetime.fromisoformat(i["at"]) for i in body["items"]]
    assert times == sorted(times, reverse=True)
    changes = [i for i in body["items"] if i["type"] == "status_changed"]
    churn = next(i for i in changes if i["details"]["to"] == "churned")
    assert datetime.fromisoformat(churn["at"]) == T0 + timedelta(days=90)
    details = churn["details"]
    assert (details["churn_reason"], details["winback_eligible"]) == ("price", True)
    assert sorted(details) == sorted(
        [
            "from",
            "to",
            "reasons",
            "churn_reason",
            "segment",
            "value_tier",
            "winback_eligible",
            "risk_score",
            "winback_probability",
            "caused_by",
        ]
    )
    assert details["caused_by"] is not None and details["reasons"]


async def test_timeline_pages_and_refusals(api: httpx.AsyncClient) -> None:
    whole = (await api.get(f"/v1/customers/{STORY}/timeline")).json()["items"]
    seen: list[dict[str, Any]] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"before": before} if before else {})
        page = (await api.get(f"/v1/customers/{STORY}/timeline", params=params)).json()
        seen += page["items"]
        before = page["next_before"]
        if before is None:
            break
    assert seen == whole
    assert (await api.get("/v1/customers/nobody/timeline")).status_code == 404
    bad = await api.get(f"/v1/customers/{STORY}/timeline", params={"before": "x"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"/v1/customers/{STORY}/timeline", params={"limit": 501})).status_code == 422
    assert (await api.get(f"/v1/customers/{STORY}/timeline", headers={"Authorization": ""})).status_code == 401
    assert (await api.get(f"/v1/customers/{STORY}/timeline", headers=INGEST)).status_code == 403


async def _listed(api: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get("/v1/customers", params={"limit": 1000, **filters})).json()["items"]
    return items


async def test_segments_match_the_stored_scores(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/segments")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(q["segment"], q["label"]) for q in body["quadrants"]] == [
        ("star", {"de": "Star", "en": "Star"}),
        ("question_mark", {"de": "Fragezeichen", "en": "Question mark"}),
        ("take_along", {"de": "Mitnahme", "en": "Take along"}),
        ("loss", {"de": "Verlust", "en": "Loss"}),
    ]
    everyone = await _listed(api)
    # Orders net of returns, as stored (contract payments are computed per read on the customer object).
    order_revenue = {STORY: Decimal("140.25"), MONTHLY: Decimal("240")}
    for quadrant in body["quadrants"]:
        members = await _listed(api, segment=quadrant["segment"])
        assert quadrant["customers"] == len(members)
        assert Decimal(quadrant["value"]) == sum((order_revenue[m["customer_id"]] for m in members), Decimal(0))
    assert body["unsegmented"]["customers"] == len(everyone) - sum(q["customers"] for q in body["quadrants"])
    at_risk = await _listed(api, status="at_risk")
    assert sorted(i["customer_id"] for i in body["at_risk"]) == sorted(i["customer_id"] for i in at_risk)
    priorities = [i["priority"] for i in body["at_risk"]]
    assert priorities == sorted(priorities, reverse=True)
    [lapsed] = body["lapsed"]
    [view] = await _listed(api, status="lapsed")
    cycle = view["buying_cycle"]
    assert (lapsed["customer_id"], lapsed["value"], lapsed["orders"]) == (MONTHLY, "240", 6)
    assert lapsed["mean_interval_days"] == cycle["mean_interval_days"] == 30.0
    assert datetime.fromisoformat(lapsed["last_order_at"]) == T0 + timedelta(days=150)
    # Days since the last order at the service's clock (a second or two after the view's).
    assert abs(lapsed["days_since_last_order"] - cycle["days_since_last_order"]) < 0.01
    assert lapsed["overdue_ratio"] == pytest.approx(lapsed["days_since_last_order"] / 30.0, abs=0.001)
    assert (await api.get("/v1/segments", params={"limit": 0})).status_code == 422
    assert (await api.get("/v1/segments", headers=INGEST)).status_code == 403


async def test_many_customers_in_one_call_are_the_single_reads(api: httpx.AsyncClient) -> None:
    as_of = (NOW + timedelta(hours=1)).isoformat()
    r = await api.get(
        "/v1/customers:batch", params={"customer_id": [MONTHLY, "nobody", STORY, MONTHLY], "as_of": as_of}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    singles = [(await api.get(f"/v1/customers/{c}", params={"as_of": as_of})).json() for c in (MONTHLY, STORY)]
    assert body == {"items": singles, "unknown": ["nobody"]}
    assert (await api.get("/v1/customers:batch")).status_code == 422
    many = {"customer_id": [f"c{i}" for i in range(101)]}
    assert (await api.get("/v1/customers:batch", params=many)).status_code == 422
    assert (await api.get("/v1/customers:batch", params={"customer_id": "x", "as_of": "soon"})).status_code == 422
    assert (await api.get("/v1/customers:batch", params={"customer_id": "x"}, headers=INGEST)).status_code == 403
