"""GDPR erasure through consent's API reaches every service, on the real broker and database.

Two customers order, cancel (with a free-text reason), have e-mail consent, are enrolled by a
playbook of this test and get a triggered e-mail. One of them is erased with
`DELETE /v1/customers/{id}` on consent. Then: risk, campaign and consent no longer serve the
person, their tables hold nothing about the id, metrics holds only pseudonymised facts without
the text, the KPIs of the cohort are unchanged, and neither a replay of the customer's original
events on `winback.events` nor a late event dated before the erasure restores anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.support.events import doi_consent, event, profile
from tests.support.kafka import produce
from tests.support.playbooks import immediate_email, install
from tests.support.polling import eventually
from tests.support.services import running_services
from winback_cli.stack import ServiceProcess
from winback_shared.db.engine import create_engine

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key"}
ALL = ["consent", "risk", "campaign", "metrics", "ingest"]
RUN = uuid.uuid4().hex[:8]
GONE, KEPT = f"erase-{RUN}-gone", f"erase-{RUN}-kept"
PLAYBOOK = f"erasure-e2e-{RUN}"
REASON_TEXT = "Zu teuer, bitte nicht mehr anrufen - Anna Beispiel"


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    with running_services(ALL, bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as services:
        yield services


def history(customer_id: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    orders = [
        event(
            "order.placed",
            {"customer_id": customer_id, "order_id": f"{customer_id}-o{n}", "amount": "80.00", "category": "shoes"},
            source="/test/shop",
            time=now - timedelta(days=days),
        )
        for n, days in enumerate((120, 60))
    ]
    cancelled = event(
        "contract.cancelled",
        {
            "customer_id": customer_id,
            "contract_id": f"{customer_id}-k1",
            "reason_code": "price",
            "reason_text": REASON_TEXT,
        },
        source="/test/billing",
    )
    named = profile(customer_id, name="Anna Beispiel", email=f"{customer_id}@example.org")
    return [named, doi_consent(customer_id), *orders, cancelled]


async def _get(client: httpx.AsyncClient, url: str, **params: Any) -> httpx.Response:
    return await client.get(url, params=params, headers=ADMIN)


async def _actions(client: httpx.AsyncClient, campaign: str, customer_id: str) -> list[dict[str, Any]]:
    r = await _get(client, f"{campaign}/v1/actions", customer_id=customer_id)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _kpis(client: httpx.AsyncClient, metrics: str) -> dict[str, Any]:
    r = await _get(client, f"{metrics}/v1/kpis", playbook_id=PLAYBOOK)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    # Themes are read from the stored texts at query time: the erased text no longer feeds them.
    for reason in body.get("churn_reasons", []):
        reason.pop("themes", None)
    return body


async def _count(database_url: str, sql: str, **params: Any) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql), params)).scalar_one())
    finally:
        await engine.dispose()


# Every table of every service that held the customer's id, and how many rows they may keep.
PERSONAL_ROWS = [
    "SELECT count(*) FROM risk.customers WHERE customer_id = :c",
    "SELECT count(*) FROM risk.orders WHERE customer_id = :c",
    "SELECT count(*) FROM risk.signals WHERE customer_id = :c",
    "SELECT count(*) FROM campaign.customers WHERE customer_id = :c",
    "SELECT count(*) FROM campaign.enrollments WHERE customer_id = :c",
    "SELECT count(*) FROM campaign.actions WHERE customer_id = :c",
    "SELECT count(*) FROM metrics.churn_episodes WHERE customer_id = :c",
    "SELECT count(*) FROM metrics.actions WHERE customer_id = :c",
    "SELECT count(*) FROM metrics.orders WHERE customer_id = :c",
    "SELECT count(*) FROM metrics.cancellations WHERE customer_id = :c",
    "SELECT count(*) FROM metrics.enrollments WHERE customer_id = :c",
    "SELECT count(*) FROM consent.orders WHERE customer_id = :c",
    "SELECT count(*) FROM consent.customers WHERE customer_id = :c AND (email IS NOT NULL OR erased_at IS NULL)",
]


async def _personal_rows(database_url: str, customer_id: str) -> dict[str, int]:
    return {sql: await _count(database_url, sql, c=customer_id) for sql in PERSONAL_ROWS}


async def test_erasure_through_consent_reaches_every_service_and_survives_a_replay(
    system: dict[str, ServiceProcess], kafka_bootstrap: str, database_url: str
) -> None:
    urls = {name: process.url for name, process in system.items()}
    originals = {c: history(c) for c in (GONE, KEPT)}
    async with httpx.AsyncClient(timeout=10) as client:
        await install(client, urls["campaign"], immediate_email(PLAYBOOK))
        r = await client.post(f"{urls['ingest']}/v1/events", json=[*originals[GONE], *originals[KEPT]], headers=INGEST)
        assert r.status_code == 202, r.text
        for customer in (GONE, KEPT):
            actions = await eventually(lambda c=customer: _actions(client, urls["campaign"], c), bool, timeout_s=60)
            assert [(a["status"], a["channel"], a["playbook_id"]) for a in actions] == [
                ("triggered", "email", PLAYBOOK)
            ]
        before = await eventually(
            lambda: _kpis(client, urls["metrics"]),
            lambda k: k["churned"] == 2 and k["actions"]["triggered"] == 2,
            timeout_s=60,
        )
        assert (await _get(client, f"{urls['risk']}/v1/customers/{GONE}")).json()["status"] == "churned"

        erased = await client.delete(f"{urls['consent']}/v1/customers/{GONE}", headers=ADMIN)
        assert erased.status_code == 200, erased.text
        assert erased.json()["suppressed"] == ["email"]

        # Risk and campaign apply consent's customer.erased; consent forgot at once.
        risk = await eventually(
            lambda: _get(client, f"{urls['risk']}/v1/customers/{GONE}"), lambda r: r.status_code == 404
        )
        assert risk.json()["status"] == 404
        assert await eventually(lambda: _actions(client, urls["campaign"], GONE), lambda items: items == []) == []
        enrollments = await _get(client, f"{urls['campaign']}/v1/customers/{GONE}/enrollments")
        assert enrollments.json() == {"items": []}
        assert (await _get(client, f"{urls['consent']}/v1/customers/{GONE}/consents")).status_code == 404
        await eventually(
            lambda: _count(database_url, "SELECT count(*) FROM metrics.churn_episodes WHERE customer_id = :c", c=GONE),
            lambda n: n == 0,
        )
        assert set((await _personal_rows(database_url, GONE)).values()) == {0}
        pseudonymised = await _count(
            database_url,
            "SELECT count(*) FROM metrics.cancellations WHERE customer_id LIKE 'erased-%' AND reason_text IS NULL",
        )
        assert pseudonymised == 1
        assert await _count(
            database_url, "SELECT count(*) FROM metrics.cancellations WHERE reason_text = :t", t=REASON_TEXT
        ) == 1  # fmt: skip  # the kept customer's text
        assert await _kpis(client, urls["metrics"]) == before

        # A second DELETE changes nothing and answers the first erasure.
        again = await client.delete(f"{urls['consent']}/v1/customers/{GONE}", headers=ADMIN)
        assert again.status_code == 200 and again.json() == erased.json()

        # The customer's history replayed on winback.events, and a late order dated before the erasure.
        late = event(
            "order.placed",
            {"customer_id": GONE, "order_id": f"{GONE}-late", "amount": "30.00"},
            source="/test/shop",
            time=datetime.now(UTC) - timedelta(hours=1),
        )
        new_order = event(
            "order.placed",
            {"customer_id": GONE, "order_id": f"{GONE}-new", "amount": "45.00", "category": "socks"},
            source="/test/shop",
            time=datetime.now(UTC) + timedelta(seconds=1),
        )
        await produce(kafka_bootstrap, "winback.events", [*originals[GONE], late])
        # Then a genuinely new order: same key, so the same partition, behind the replay in every consumer.
        await produce(kafka_bootstrap, "winback.events", [new_order])
        fresh = await eventually(
            lambda: _get(client, f"{urls['risk']}/v1/customers/{GONE}"), lambda r: r.status_code == 200
        )
        # A new relationship from nothing: one order, no churn, none of the replayed or late history.
        assert fresh.json()["buying_cycle"]["orders"] == 1
        assert fresh.json()["churned_at"] is None
        for sql in (
            "SELECT count(*) FROM metrics.orders WHERE customer_id = :c",
            "SELECT count(*) FROM consent.orders WHERE customer_id = :c",
            "SELECT count(*) FROM campaign.customers WHERE customer_id = :c",
        ):
            await eventually(lambda q=sql: _count(database_url, q, c=GONE), lambda n: n == 1)
        assert await _count(database_url, "SELECT count(*) FROM risk.orders WHERE customer_id = :c", c=GONE) == 1
        assert await _actions(client, urls["campaign"], GONE) == []
        still_erased = {sql: 0 for sql in PERSONAL_ROWS if "orders" not in sql and ".customers" not in sql}
        assert {sql: n for sql, n in (await _personal_rows(database_url, GONE)).items() if sql in still_erased} == (
            still_erased
        )
        assert await _count(
            database_url,
            "SELECT count(*) FROM campaign.customers WHERE customer_id = :c AND name IS NULL AND email IS NULL",
            c=GONE,
        ) == 1  # fmt: skip
        assert await _count(
            database_url,
            "SELECT count(*) FROM consent.customers WHERE customer_id = :c AND email IS NULL",
            c=GONE,
        ) == 1  # fmt: skip
        assert await _kpis(client, urls["metrics"]) == before
