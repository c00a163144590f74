"""A fact sent again with a new event id, or by another source, counts once in risk and metrics.

Issue 15, finding 4: the same `order_id` sent as three events gave `orders: 1` but three times
the revenue. Here every fact of a win-back is stated more than once through the real broker and
consumers: the order that wins the customer back (three events, one of them from another source
and one a "correction" with another amount), its partial return (twice), the cancellation
(twice) and the survey answer that closes the history (twice).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.kafka import produce
from tests.support.polling import eventually
from tests.support.services import running_services
from winback_cli.stack import ServiceProcess
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
CUSTOMER = "bk-1"
T0 = datetime(2023, 2, 1, 9, tzinfo=UTC)
CHURN = T0 + timedelta(days=30)
BACK = CHURN + timedelta(days=10)
RETURNED = BACK + timedelta(days=5)
ANSWERED = RETURNED + timedelta(days=1)


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    with running_services(["risk", "metrics"], bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as s:
        yield s


def _event(type_: str, at: datetime, source: str = "/test/shop", **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": at.isoformat(),
        "data": {"customer_id": CUSTOMER, **data},
    }


def _history() -> list[dict[str, Any]]:
    cancel = {"contract_id": "k1", "reason_code": "price"}
    order = {"order_id": "o1", "amount": "100", "margin": "40"}
    return [
        _event("order.placed", T0, order_id="o0", amount="50"),
        _event("contract.cancelled", CHURN, "/test/billing", **cancel),
        _event("contract.cancelled", CHURN, "/test/billing", **cancel),
        _event("order.placed", BACK, **order),
        _event("order.placed", BACK, **order),
        _event("order.placed", BACK, "/test/erp", **order),
        # A late "correction" of the amount: the first version stands (corrections are returns).
        _event("order.placed", BACK, **{**order, "amount": "500", "margin": "200"}),
        _event("order.returned", RETURNED, order_id="o1", amount="30"),
        _event("order.returned", RETURNED, "/test/erp", order_id="o1", amount="30"),
        _event("survey.answered", ANSWERED, survey="nps", score=3),
        _event("survey.answered", ANSWERED, "/test/erp", survey="nps", score=3),
    ]


async def _risk_customer(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    r = await client.get(f"{url}/v1/customers/{CUSTOMER}", params={"as_of": ANSWERED.isoformat()}, headers=ADMIN)
    return r.json() if r.status_code == 200 else {}


async def _kpis(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    params = {"from": CHURN.date().isoformat(), "to": CHURN.date().isoformat()}
    r = await client.get(f"{url}/v1/kpis", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _answered(customer: dict[str, Any]) -> bool:
    # The survey is the customer's last event: once it drives the score, everything before was applied.
    return any(d["factor"] == "nps_detractor" for d in customer.get("drivers", []))


async def test_a_fact_stated_again_counts_once_in_every_total(
    system: dict[str, ServiceProcess], kafka_bootstrap: str
) -> None:
    await produce(kafka_bootstrap, Topic.EVENTS.value, _history())
    async with httpx.AsyncClient(timeout=10) as client:
        customer = await eventually(lambda: _risk_customer(client, system["risk"].url), _answered, timeout_s=60)
        kpis = await eventually(
            lambda: _kpis(client, system["metrics"].url),
            lambda k: k["won_back"] == 1 and k["nps_won_back"] is not None,
            timeout_s=60,
        )

    assert (customer["status"], customer["buying_cycle"]["orders"]) == ("won_back", 2)
    # 50 + 100 - 30: the re-sent order, its "correction" and the re-sent return change nothing.
    assert Decimal(customer["value"]["revenue"]) == Decimal("120")
    assert Decimal(customer["value"]["margin"]) == Decimal("40")
    assert [d["detail"] for d in customer["drivers"] if d["factor"] == "returns"] == ["1 returns in 180 days"]

    assert (kpis["churned"], kpis["won_back"]) == (1, 1)
    assert Decimal(kpis["recovered_revenue"]) == Decimal("70")
    assert Decimal(kpis["recovered_margin"]) == Decimal("28")
