"""The thin path through all five services, started as processes on a real broker and database.

contract.cancelled -> ingest -> risk (churned) -> campaign (enrols, asks consent) -> action
triggered or suppressed on winback.actions -> metrics counts it. Campaign runs the shipped
playbooks; the test adds one of its own (PUT /v1/playbooks) with an immediate e-mail and no
holdout, so every cancellation is asked about at once.
"""

from __future__ import annotations

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
ALL = ["consent", "risk", "campaign", "metrics", "ingest"]


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    with running_services(ALL, bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as services:
        yield services


async def _post(client: httpx.AsyncClient, url: str, events: list[dict[str, Any]]) -> None:
    r = await client.post(f"{url}/v1/events", json=events, headers=INGEST)
    assert r.status_code == 202, r.text


async def _consent_knows(client: httpx.AsyncClient, url: str, customer_id: str) -> bool:
    r = await client.post(
        f"{url}/v1/decisions",
        headers=ADMIN,
        json={"customer_id": customer_id, "channel": "email", "content": "service"},
    )
    return r.status_code == 200 and r.json()["allowed"] is True


async def _actions(client: httpx.AsyncClient, url: str, customer_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"{url}/v1/actions", params={"customer_id": customer_id}, headers=ADMIN)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _where(client: httpx.AsyncClient, system: dict[str, ServiceProcess], customer_id: str) -> str:
    risk = await client.get(f"{system['risk'].url}/v1/customers/{customer_id}", headers=ADMIN)
    enrolled = await client.get(f"{system['campaign'].url}/v1/customers/{customer_id}/enrollments", headers=ADMIN)
    decision = await client.post(
        f"{system['consent'].url}/v1/decisions",
        headers=ADMIN,
        json={"customer_id": customer_id, "channel": "email", "content": "service"},
    )
    return f"risk {risk.text[:600]}; campaign enrolments {enrolled.text[:1200]}; consent {decision.text[:400]}"


async def test_consented_customer_is_contacted_once_and_objector_is_suppressed(
    system: dict[str, ServiceProcess], kafka_bootstrap: str
):
    ingest, consent, campaign = system["ingest"].url, system["consent"].url, system["campaign"].url
    async with httpx.AsyncClient(timeout=10) as client:
        await install(client, campaign, immediate_email())
        await _post(
            client,
            ingest,
            [profile("e2e-yes"), doi_consent("e2e-yes"), profile("e2e-no"), doi_consent("e2e-no"), objection("e2e-no")],
        )
        for customer in ("e2e-yes", "e2e-no"):
            await eventually(lambda c=customer: _consent_knows(client, consent, c), bool)
        await _post(
            client,
            ingest,
            [cancellation("e2e-yes", reason_code="price"), cancellation("e2e-no", reason_code="service")],
        )

        # Campaign waits until consent has applied each cancellation ("not yet" and retry): allow for a
        # consent consumer that is a few seconds behind on a busy machine.
        yes = await eventually(
            lambda: _actions(client, campaign, "e2e-yes"), lambda items: len(items) >= 1, timeout_s=60
        )
        try:
            no = await eventually(
                lambda: _actions(client, campaign, "e2e-no"), lambda items: len(items) >= 1, timeout_s=60
            )
        except AssertionError as exc:
            # Seen once in a full local run (never alone): say where the objector's path stopped.
            raise AssertionError(f"{exc}; {await _where(client, system, 'e2e-no')}") from exc
        assert [(a["status"], a["channel"]) for a in yes] == [("triggered", "email")]
        assert [(a["status"], a["reason"]) for a in no] == [("suppressed", "objection")]

        churned = await client.get(f"{system['risk'].url}/v1/customers/e2e-yes", headers=ADMIN)
        assert churned.json()["status"] == "churned"

        kpis = await eventually(
            lambda: _kpis(client, system["metrics"].url),
            lambda k: k["churned"] >= 2 and k["actions"]["triggered"] + k["actions"]["suppressed"] >= 2,
        )
        assert kpis["actions"] == {**kpis["actions"], "triggered": 1, "suppressed": 1}

    actions = [
        e
        for e in await read_topic(kafka_bootstrap, "winback.actions")
        if e["data"]["customer_id"] in ("e2e-yes", "e2e-no")
    ]
    by_type = sorted((e["type"], e["data"]["customer_id"], e["data"].get("reason")) for e in actions)
    assert sorted(set(by_type)) == [("action.suppressed", "e2e-no", "objection"), ("action.triggered", "e2e-yes", None)]
    triggered = {e["data"]["action_id"] for e in actions if e["type"] == "action.triggered"}
    assert len(triggered) == 1


async def _kpis(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    r = await client.get(f"{url}/v1/kpis", headers=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
