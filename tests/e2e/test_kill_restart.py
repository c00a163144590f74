"""No loss, no doubles, no wrong answer: 1,000 cancellations while risk, campaign and consent are SIGKILLed in turn.

Campaign runs the shipped playbooks plus one of the test's own (an immediate e-mail, no holdout), so
every cancelled customer is asked about at once. Each customer's consent is fixed in advance (a
confirmed e-mail opt-in, nothing on file, or an opt-in followed by an objection), and the test
asserts the one outcome each must get: an e-mail for the first, suppressed for `no_consent` or
`objection` for the others. An all-suppressed run, or a contact of an objector, fails.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.events import cancellation, doi_consent, objection, profile
from tests.support.kafka import read_topic
from tests.support.playbooks import immediate_email, install
from tests.support.polling import eventually
from tests.support.services import running_services
from winback_cli.stack import ServiceProcess

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key"}
CUSTOMERS = [f"kill-{i:04d}" for i in range(1000)]
# After which batch of 100 cancellations each victim is killed (and restarted a moment later).
VICTIMS = {2: "risk", 5: "campaign", 7: "consent"}
# Consent fixed per customer, and the outcome it must give (status, channel, reason).
CONSENTED = CUSTOMERS[0::3]
WITHOUT_CONSENT = CUSTOMERS[1::3]
OBJECTING = CUSTOMERS[2::3]
EXPECTED = (
    {c: ("triggered", "email", None) for c in CONSENTED}
    | {c: ("suppressed", "email", "no_consent") for c in WITHOUT_CONSENT}
    | {c: ("suppressed", "email", "objection") for c in OBJECTING}
)


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    names = ["consent", "risk", "campaign", "metrics", "ingest"]
    with running_services(names, bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as services:
        yield services


async def _post(client: httpx.AsyncClient, url: str, events: list[dict[str, Any]]) -> None:
    r = await client.post(f"{url}/v1/events", json=events, headers=INGEST)
    assert r.status_code == 202, r.text


async def _all_actions(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(f"{url}/v1/actions", params=params, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(a for a in body["items"] if a["customer_id"].startswith("kill-"))
        cursor = body.get("next_cursor")
        if not cursor:
            return items


async def test_every_customer_gets_exactly_the_outcome_of_its_consent_through_the_kills(
    system: dict[str, ServiceProcess], kafka_bootstrap: str
):
    ingest = system["ingest"].url
    async with httpx.AsyncClient(timeout=30) as client:
        await install(client, system["campaign"].url, immediate_email())
        # Opt-ins first, objections after them (an objection wins over an earlier consent).
        setup = [profile(c) for c in CUSTOMERS] + [doi_consent(c) for c in CONSENTED + OBJECTING]
        setup += [objection(c, ["email"]) for c in OBJECTING]
        for start in range(0, len(setup), 500):
            await _post(client, ingest, setup[start : start + 500])
        for batch_no, start in enumerate(range(0, len(CUSTOMERS), 100)):
            await _post(client, ingest, [cancellation(c, reason_code="price") for c in CUSTOMERS[start : start + 100]])
            if victim := VICTIMS.get(batch_no):
                system[victim].kill()
                await asyncio.sleep(0.5)
                system[victim].start()
                await asyncio.to_thread(system[victim].wait_ready)

        actions = await eventually(
            lambda: _all_actions(client, system["campaign"].url),
            lambda items: len({a["customer_id"] for a in items}) >= len(CUSTOMERS),
            timeout_s=180,
            interval_s=1.0,
        )
        await asyncio.sleep(2)  # anything still in flight would show up as a second action
        actions = await _all_actions(client, system["campaign"].url)

    per_customer = Counter(a["customer_id"] for a in actions)
    assert set(per_customer) == set(CUSTOMERS)
    assert [c for c, n in per_customer.items() if n != 1] == []
    outcomes = {a["customer_id"]: (a["status"], a["channel"], a["reason"]) for a in actions}
    assert {c: o for c, o in outcomes.items() if o != EXPECTED[c]} == {}

    published: dict[str, set[tuple[str, str, str | None]]] = defaultdict(set)
    for event in await read_topic(kafka_bootstrap, "winback.actions", idle_s=2.0, timeout_s=60):
        data = event["data"]
        if data["customer_id"].startswith("kill-"):
            published[data["customer_id"]].add((data["action_id"], event["type"], data.get("reason")))
    assert set(published) == set(CUSTOMERS)
    assert [c for c, ids in published.items() if len(ids) != 1] == []
    expected_types = {"triggered": "action.triggered", "suppressed": "action.suppressed"}
    wrong = {
        c: (kind, reason)
        for c, [(_, kind, reason)] in ((c, list(ids)) for c, ids in published.items())
        if (kind, reason) != (expected_types[EXPECTED[c][0]], EXPECTED[c][2])
    }
    assert wrong == {}
