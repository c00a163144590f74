"""Whole sequences through the broker: an objection or a return between two steps stops the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.integration.test_campaign_flow import ConsentStub, read_topic
from tests.support.kafka import publish
from tests.support.polling import until
from winback_campaign.bootstrap import MIGRATIONS, build_app
from winback_campaign.domain.builtin_playbooks import WINBACK_BASIC
from winback_campaign.domain.enrollment import in_holdout
from winback_campaign.settings import CampaignSettings
from winback_cli.servers import free_port
from winback_shared.db.migrate import upgrade
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CustomerUpserted
from winback_shared.events.produced import ConsentChanged, CustomerStatusChanged
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration


class AllowAll(ConsentStub):
    """The flow test's stub server, allowing every customer."""

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/decisions:batch")
        async def decide(request: Request) -> dict[str, Any]:
            items = (await request.json())["items"]
            self.requests.extend(items)
            allow = {"allowed": True, "basis": "express_consent", "reason": None, "evidence_ids": ["ev"]}
            return {"items": [{"request_id": i["request_id"], **allow} for i in items]}

        return app


@pytest.fixture(scope="module")
async def client(kafka_bootstrap: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    stub = AllowAll(free_port())
    stub.start()
    settings = CampaignSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        consent_url=f"http://127.0.0.1:{stub.port}",
        consumer_session_timeout_ms=1_000,
        consumer_heartbeat_interval_ms=300,
        scheduler_interval_s=0.2,
        outbox_poll_interval_s=0.1,
        opt_out_base_url="http://campaign/v1/unsubscribe",
    )
    await asyncio.to_thread(upgrade, settings.database_url, MIGRATIONS)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer dev-admin-key"}
        async with httpx.AsyncClient(transport=transport, base_url="http://campaign", headers=headers) as c:
            yield c
    stub.stop()


def status(customer_id: str, to: str, at: datetime, **data: Any) -> CloudEvent:
    payload = {"customer_id": customer_id, "from": "active", "to": to, "at": at, "winback_eligible": True, **data}
    return CustomerStatusChanged.new(source="/winback/risk", time=at, data=payload)


def business(customer_id: str) -> CloudEvent:
    data = {
        "customer_id": customer_id,
        "kind": "business",
        "name": customer_id,
        "email": f"{customer_id}@example.com",
        "phone": "+49301234",
        "postal_address": {"street": "Weg 1", "postal_code": "10115", "city": "Berlin"},
        "account_manager": "Max",
    }
    return CustomerUpserted.new(source="/crm", time=datetime.now(UTC), data=data)


async def enrollment(client: httpx.AsyncClient, customer_id: str, playbook_id: str) -> dict[str, Any] | None:
    items = (await client.get(f"/v1/customers/{customer_id}/enrollments")).json()["items"]
    return next((i for i in items if i["playbook_id"] == playbook_id), None)


async def actions_of(client: httpx.AsyncClient, customer_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/v1/actions", params={"customer_id": customer_id})).json()["items"]
    return items


async def first_step_sent(client: httpx.AsyncClient, kafka_bootstrap: str, customer_id: str) -> dict[str, Any]:
    """Churned, tier A business, reason unknown: winback-basic e-mail now, a call at 7 days, a letter at 14."""
    assert not in_holdout(customer_id, WINBACK_BASIC)  # the ids are chosen outside the control group
    now = await service_now(client)
    await publish(
        kafka_bootstrap,
        [(Topic.EVENTS, business(customer_id)), (Topic.RISK, status(customer_id, "churned", now, value_tier="A"))],
    )
    [action] = await until(lambda: actions_of(client, customer_id))
    assert isinstance(action, dict)
    assert action["channel"] == "email" and action["status"] == "triggered"
    found = await enrollment(client, customer_id, "winback-basic")
    assert found is not None and [s["step_id"] for s in found["steps"]] == ["1", "call", "letter"]
    return action


async def service_now(client: httpx.AsyncClient) -> datetime:
    """The service's clock (earlier tests moved it ahead of the wall clock)."""
    return datetime.fromisoformat((await client.get("/v1/clock")).json()["now"])


async def move_clock(client: httpx.AsyncClient, days: int) -> None:
    now = await service_now(client)
    assert (await client.post("/v1/clock", json={"now": (now + timedelta(days=days)).isoformat()})).status_code == 200


async def test_objection_between_two_steps_stops_everything_after_it(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    await first_step_sent(client, kafka_bootstrap, "seq-objects")
    objected = {"customer_id": "seq-objects", "channel": "email", "state": "objected", "at": datetime.now(UTC)}
    await publish(
        kafka_bootstrap,
        [(Topic.CONSENT, ConsentChanged.new(source="/winback/consent", time=datetime.now(UTC), data=objected))],
    )

    async def exited() -> dict[str, Any] | None:
        found = await enrollment(client, "seq-objects", "winback-basic")
        return found if found and found["status"] == "exited" else None

    found = await until(exited)
    assert found["exit_reason"] == "objection"
    assert [s["status"] for s in found["steps"]] == ["triggered", "skipped", "skipped"]
    await move_clock(client, 20)
    await asyncio.sleep(1.0)
    assert len(await actions_of(client, "seq-objects")) == 1


async def test_a_customer_who_returns_after_the_first_step_gets_nothing_more(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    first = await first_step_sent(client, kafka_bootstrap, "seq-back")
    await publish(kafka_bootstrap, [(Topic.RISK, status("seq-back", "won_back", await service_now(client)))])

    async def won() -> dict[str, Any] | None:
        found = await enrollment(client, "seq-back", "winback-basic")
        return found if found and found["status"] == "exited" else None

    found = await until(won)
    assert found["exit_reason"] == "won_back" and found["steps"][1:] == [
        {**s, "status": "skipped", "reason": "won_back"} for s in found["steps"][1:]
    ]
    await move_clock(client, 20)
    await asyncio.sleep(1.0)
    later = [a for a in await actions_of(client, "seq-back") if a["enrollment_id"] == found["enrollment_id"]]
    assert [a["action_id"] for a in later] == [first["action_id"]]
    exits = [
        e
        for e in await read_topic(kafka_bootstrap, Topic.CAMPAIGN.value, expect=1)
        if e["type"] == "campaign.exited" and e["data"]["customer_id"] == "seq-back"
    ]
    assert [(e["data"]["reason"], e["data"]["attributed_action_id"]) for e in exits] == [
        ("won_back", first["action_id"])
    ]


async def test_a_return_during_a_win_back_ends_it_and_starts_re_onboarding_in_the_same_batch(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    # The win-back's exit and re-onboarding's start come from one status change: the new enrolment
    # must not collide with the old one, still active, on the one-active-enrolment-per-customer index.
    await first_step_sent(client, kafka_bootstrap, "seq-comes-back")
    await publish(kafka_bootstrap, [(Topic.RISK, status("seq-comes-back", "won_back", await service_now(client)))])

    onboarding = await until(lambda: enrollment(client, "seq-comes-back", "re-onboarding"))
    winback = await enrollment(client, "seq-comes-back", "winback-basic")
    assert winback is not None and (winback["status"], winback["exit_reason"]) == ("exited", "won_back")
    assert isinstance(onboarding, dict) and (onboarding["status"], onboarding["holdout"]) == ("active", False)
    assert [(s["step_id"], s["status"]) for s in onboarding["steps"]] == [
        ("welcome", "pending"),
        ("day-30", "pending"),
        ("day-60", "pending"),
        ("day-90", "pending"),
    ]


async def test_the_opt_out_link_works_and_ends_the_sequence(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    action = await first_step_sent(client, kafka_bootstrap, "seq-unsubscribes")
    link = action["content"]["opt_out_url"]
    assert link in action["content"]["body"]
    forged = await client.get(link[:-4] + "0000", headers={"Authorization": ""})
    assert forged.status_code == 404
    clicked = await client.get(link, headers={"Authorization": ""})
    assert clicked.status_code == 200 and clicked.json()["status"] == "unsubscribed"
    assert (await client.post(link, headers={"Authorization": ""})).status_code == 200  # idempotent
    found = await enrollment(client, "seq-unsubscribes", "winback-basic")
    assert found is not None and (found["status"], found["exit_reason"]) == ("exited", "unsubscribe")
    inbound = await read_topic(kafka_bootstrap, Topic.INBOUND.value, expect=1)
    # The second click repeats the same event (same source and id): ingest counts it once.
    mine = {
        (e["type"], e["data"]["outcome"], e["id"]) for e in inbound if e["data"].get("action_id") == action["action_id"]
    }
    assert mine == {("campaign.response", "unsubscribed", f"unsubscribe:{action['action_id']}")}
