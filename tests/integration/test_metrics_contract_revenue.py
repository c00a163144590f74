"""Recovered revenue counts what won-back subscribers pay: contract periods after the return, as time passes.

Three business customers on a 4,000 EUR/month contract (periods paid in advance, on the start's day
of the month) give notice in June 2031 and come back, each in another way:
- Müller GmbH signs a new contract on 20 September (after the old one ended on 31 July);
- Schmidt AG withdraws its notice on 1 July, before it took effect (the contract is renewed and runs
  on, periods on the 15th as before);
- Weber KG signs again on 20 September and cancels again on 1 November, effective 30 November.
Only payments after the return are recovered; they accrue as the clock moves, without new events.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.kafka import publish
from tests.support.polling import eventually
from winback_shared.contracts import ContractRun, periods_in
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ContractCancelled, ContractRenewed, ContractStarted, OrderPlaced
from winback_shared.events.produced import CustomerStatusChanged
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

OPS = {"Authorization": "Bearer dev-admin-key"}
MONTHLY = "4000.00"
JAN_15 = datetime(2031, 1, 15, 9, tzinfo=UTC)
NOTICE = datetime(2031, 6, 10, 9, tzinfo=UTC)
COHORT = {"from": "2031-06-01", "to": "2031-06-30"}


def _status(customer: str, to: str, at: datetime) -> CustomerStatusChanged:
    data: dict[str, Any] = {"customer_id": customer, "to": to, "at": at}
    data["from"] = "churned" if to == "won_back" else "active"
    if to == "churned":
        data |= {"churn_reason": "competitor", "winback_eligible": True, "segment": "star", "value_tier": "A"}
    return CustomerStatusChanged.new(source="/risk", time=at, data=data)


def _started(customer: str, contract: str, at: datetime, end: date) -> ContractStarted:
    data = {"customer_id": customer, "contract_id": contract, "monthly_value": MONTHLY, "end_date": end.isoformat()}
    return ContractStarted.new(source="/billing", time=at, data=data)


def _cancelled(customer: str, contract: str, at: datetime, effective: date) -> ContractCancelled:
    data = {
        "customer_id": customer,
        "contract_id": contract,
        "effective_date": effective.isoformat(),
        "reason_code": "competitor",
    }
    return ContractCancelled.new(source="/billing", time=at, data=data)


def _renewed(customer: str, contract: str, at: datetime, end: date) -> ContractRenewed:
    data = {"customer_id": customer, "contract_id": contract, "end_date": end.isoformat()}
    return ContractRenewed.new(source="/billing", time=at, data=data)


def business() -> tuple[list[CloudEvent], list[CloudEvent]]:
    back_sep = datetime(2031, 9, 20, 10, tzinfo=UTC)
    back_jul = datetime(2031, 7, 1, 10, tzinfo=UTC)
    billing: list[CloudEvent] = [
        _started("mueller", "m-1", JAN_15, date(2032, 1, 15)),
        _cancelled("mueller", "m-1", NOTICE, date(2031, 7, 31)),
        _started("mueller", "m-2", back_sep, date(2032, 9, 20)),
        _started("schmidt", "s-1", JAN_15, date(2032, 1, 15)),
        _cancelled("schmidt", "s-1", NOTICE, date(2031, 8, 15)),
        _renewed("schmidt", "s-1", back_jul, date(2032, 7, 1)),
        _started("weber", "w-1", JAN_15, date(2032, 1, 15)),
        _cancelled("weber", "w-1", NOTICE, date(2031, 7, 31)),
        _started("weber", "w-2", back_sep, date(2032, 9, 20)),
        _cancelled("weber", "w-2", datetime(2031, 11, 1, 9, tzinfo=UTC), date(2031, 11, 30)),
        # An order after Müller's return counts too (orders and contracts are both revenue).
        OrderPlaced.new(
            source="/shop",
            time=back_sep + timedelta(days=3),
            data={"customer_id": "mueller", "order_id": "o-1", "amount": "500.00", "margin": "150.00"},
        ),
    ]
    risk: list[CloudEvent] = [
        _status("mueller", "churned", NOTICE),
        _status("mueller", "won_back", back_sep),
        _status("schmidt", "churned", NOTICE),
        _status("schmidt", "won_back", back_jul),
        _status("weber", "churned", NOTICE),
        _status("weber", "won_back", back_sep),
        _status("weber", "churned", datetime(2031, 11, 1, 9, tzinfo=UTC)),
    ]
    return billing, risk


async def _kpis(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/kpis", params=COHORT, headers=OPS)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _move_clock(client: httpx.AsyncClient, to: datetime) -> None:
    response = await client.post("/v1/clock", json={"now": to.isoformat()}, headers=OPS)
    assert response.status_code == 200, response.text


async def test_won_back_subscribers_payments_are_recovered_revenue_as_they_fall_due(
    metrics: str, kafka_bootstrap: str
) -> None:
    billing, risk = business()
    # Billing's events first, risk's later: the runs do not depend on the order of arrival.
    await publish(kafka_bootstrap, [(Topic.EVENTS, e) for e in billing])
    await publish(kafka_bootstrap, [(Topic.RISK, e) for e in risk])
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        await _move_clock(client, datetime(2031, 12, 5, 12, tzinfo=UTC))
        answer = await eventually(
            lambda: _kpis(client), lambda a: a["won_back"] == 3 and a["recovered_revenue"] != "0.00", timeout_s=60
        )
        # 5 December: Müller paid 20 Sep, 20 Oct, 20 Nov (3) and ordered for 500; Schmidt paid 15 Jul to
        # 15 Nov (5; its periods from January to June came before the return); Weber paid 20 Sep, 20 Oct,
        # 20 Nov (the period of 20 November began before the end on 30 November): 11 x 4,000 + 500.
        assert (answer["churned"], answer["won_back"]) == (3, 3)
        assert answer["recovered_revenue"] == "44500.00"
        assert answer["recovered_margin"] == "44150.00"  # contract margin rate 1 (default), the order's 150

        # 20 December, no new event: Müller's and Schmidt's next periods have begun (15 and 20 Dec), Weber's not.
        await _move_clock(client, datetime(2031, 12, 20, 12, tzinfo=UTC))
        later = await _kpis(client)
        assert later["recovered_revenue"] == "52500.00"


async def test_the_sql_period_count_is_the_shared_rule(metrics: str, database_url: str) -> None:
    """metrics.periods_between (SQL) against winback_shared.contracts.periods_in on random runs."""
    rng = random.Random(9)
    base = datetime(2030, 1, 1, tzinfo=UTC)

    def moment() -> datetime:
        # Days near month ends (29th-31st) are where clamping to a shorter month can go wrong.
        day = base + timedelta(days=rng.randrange(0, 1200), hours=rng.randrange(0, 24))
        if rng.random() < 0.5:
            return day
        return day.replace(day=28) + timedelta(days=rng.choice([1, 2, 3]))

    cases = []
    for _ in range(2000):
        started = moment()
        ends = None if rng.random() < 0.3 else started + timedelta(days=rng.randrange(0, 700))
        lo, hi = sorted((moment(), moment()))
        cases.append((started, ends, lo, hi))
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT metrics.periods_between(s, e, lo, hi) AS n FROM unnest($1::timestamptz[], $2::timestamptz[], "
            "$3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS c(s, e, lo, hi, i) ORDER BY i",
            *[list(column) for column in zip(*cases, strict=True)],
        )
    finally:
        await connection.close()
    expected = [periods_in(ContractRun("k", s, Decimal(1), e), lo, hi) for s, e, lo, hi in cases]
    assert [r["n"] for r in rows] == expected
