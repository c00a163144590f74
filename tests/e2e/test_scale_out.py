"""Two instances of risk and of campaign in one consumer group; one of each is SIGKILLed mid-stream.

Each second instance runs on its own port against the same database and consumer group, as a
second pod would. Once it has consumed part of the stream it is killed and not restarted: the
survivor takes its partitions over after the (short, test) session timeout, and every effect
still happens once: every event applied once by risk (claimed once, each customer churned once
and scored), one `customer.status_changed` per change on `winback.risk`, one action per customer
on `winback.actions` (counted by action id) and in campaign's API.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.events import cancellation, doi_consent, profile
from tests.support.kafka import read_topic
from tests.support.playbooks import immediate_email, install
from tests.support.polling import eventually
from tests.support.services import running_services
from winback_cli.stack import ServiceProcess

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key"}
CUSTOMERS = [f"scale-{i:04d}" for i in range(400)]
BATCH = 50
# After which batch of cancellations each second instance is killed (for good), and the topic
# that shows it had partitions of its own at that moment.
VICTIMS = {2: ("risk-2", "winback.events"), 4: ("campaign-2", "winback.risk")}


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    names = ["consent", "risk", "campaign", "ingest"]
    replicas = {"risk": 2, "campaign": 2}
    with running_services(
        names, bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs, replicas=replicas
    ) as services:
        yield services


async def _post(client: httpx.AsyncClient, url: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = await client.post(f"{url}/v1/events", json=events, headers=INGEST)
    assert r.status_code == 202, r.text
    return events


async def _consumed(client: httpx.AsyncClient, url: str, topic: str) -> float:
    """Records this instance has consumed from `topic` (its Prometheus counter)."""
    text = (await client.get(f"{url}/metrics")).text
    prefix = "winback_events_consumed_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and f'topic="{topic}"' in line
    )


async def _actions(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{url}/v1/actions", params=params, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(a for a in body["items"] if a["customer_id"].startswith("scale-"))
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def _once_per_customer(events: list[dict[str, Any]], key: str) -> dict[str, int]:
    """Customers whose events carry other than exactly one distinct `key` (redeliveries of one id count once)."""
    ids: dict[str, set[str]] = defaultdict(set)
    for event in events:
        ids[event["data"]["customer_id"]].add(event["data"][key] if key in event["data"] else event["id"])
    return {c: len(found) for c, found in ids.items() if len(found) != 1}


async def test_a_killed_instance_hands_over_and_every_effect_happens_once(
    system: dict[str, ServiceProcess], kafka_bootstrap: str, database_url: str
) -> None:
    ingest = system["ingest"].url
    sent: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=30) as client:
        await install(client, system["campaign"].url, immediate_email())
        setup = [profile(c) for c in CUSTOMERS] + [doi_consent(c) for c in CUSTOMERS]
        for start in range(0, len(setup), 400):
            sent += await _post(client, ingest, setup[start : start + 400])
        for batch_no, start in enumerate(range(0, len(CUSTOMERS), BATCH)):
            cancels = [cancellation(c, reason_code="price") for c in CUSTOMERS[start : start + BATCH]]
            sent += await _post(client, ingest, cancels)
            if batch_no in VICTIMS:
                victim, topic = VICTIMS[batch_no]
                # Killed only once it is provably consuming: it holds partitions of its own.
                await eventually(lambda v=victim, t=topic: _consumed(client, system[v].url, t), lambda n: n > 0)
                system[victim].kill()
            await asyncio.sleep(0.3)

        survivor = system["campaign"].url
        await eventually(
            lambda: _actions(client, survivor),
            lambda items: {a["customer_id"] for a in items} == set(CUSTOMERS),
            timeout_s=60,
            interval_s=0.5,
        )
        await asyncio.sleep(2)  # a second action still in flight would show now
        actions = await _actions(client, survivor)

    assert sorted(a["customer_id"] for a in actions) == CUSTOMERS
    assert {(a["status"], a["channel"]) for a in actions} == {("triggered", "email")}

    published = [e for e in await read_topic(kafka_bootstrap, "winback.actions", idle_s=2.0) if _ours(e)]
    assert {e["data"]["customer_id"] for e in published} == set(CUSTOMERS)
    assert {e["type"] for e in published} == {"action.triggered"}
    assert _once_per_customer(published, "action_id") == {}

    changes = [e for e in await read_topic(kafka_bootstrap, "winback.risk", idle_s=2.0) if _ours(e)]
    churns = [e for e in changes if e["type"] == "customer.status_changed" and e["data"]["to"] == "churned"]
    assert {e["data"]["customer_id"] for e in churns} == set(CUSTOMERS)
    assert _once_per_customer(churns, "id") == {}

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        claimed = await connection.fetch(
            "SELECT source, event_id FROM risk.processed_events WHERE event_id = ANY($1::text[])",
            [e["id"] for e in sent],
        )
        rows = await connection.fetch(
            "SELECT status, churn_count, risk_score IS NOT NULL AS scored FROM risk.customers "
            "WHERE customer_id LIKE 'scale-%'"
        )
    finally:
        await connection.close()
    assert sorted((r["source"], r["event_id"]) for r in claimed) == sorted((e["source"], e["id"]) for e in sent)
    assert len(rows) == len(CUSTOMERS)
    assert {(r["status"], r["churn_count"], r["scored"]) for r in rows} == {("churned", 1, True)}


def _ours(event: dict[str, Any]) -> bool:
    return str(event.get("data", {}).get("customer_id", "")).startswith("scale-")
