"""Campaign against the real broker and database, with consent as a stub HTTP server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI, Request

from tests.support.kafka import publish
from tests.support.polling import until
from winback_campaign.bootstrap import MIGRATIONS, build_app
from winback_campaign.domain.ids import action_id_for
from winback_campaign.settings import CampaignSettings
from winback_cli.servers import free_port
from winback_shared.db.migrate import upgrade
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CustomerUpserted
from winback_shared.events.produced import CustomerStatusChanged
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
ALLOWED, OBJECTED, OLD, INELIGIBLE = "c-allow", "c-objected", "c-old", "c-ineligible"


class ConsentStub:
    """Answers `POST /v1/decisions:batch`: ALLOW for one customer, DENY(objection) for the rest."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/decisions:batch")
        async def decide(request: Request) -> dict[str, Any]:
            body = await request.json()
            self.auth.append(request.headers.get("authorization"))
            items = []
            for item in body["items"]:
                self.requests.append(item)
                allowed = item["customer_id"] == ALLOWED
                items.append(
                    {
                        "request_id": item["request_id"],
                        "allowed": allowed,
                        "basis": "express_consent" if allowed else None,
                        "reason": None if allowed else "objection",
                        "evidence_ids": ["ev-1"] if allowed else [],
                        "decided_at": datetime.now(UTC).isoformat(),
                    }
                )
            return {"items": items}

        return app

    def start(self) -> None:
        if self._server is not None:
            return
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "consent stub did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, ConsentStub]]:
    """Campaign in-process (consumer, scheduler, relay running) and a consent stub, not yet started."""
    stub = ConsentStub(free_port())
    settings = CampaignSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        consent_url=f"http://127.0.0.1:{stub.port}",
        consumer_session_timeout_ms=1_000,
        consumer_heartbeat_interval_ms=300,
        consent_retry_max_s=1.0,
        scheduler_interval_s=0.2,
        outbox_poll_interval_s=0.1,
    )
    await asyncio.to_thread(upgrade, settings.database_url, MIGRATIONS)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://campaign", headers=ADMIN) as client:
            yield client, stub
    stub.stop()


def status_changed(customer_id: str, *, at: datetime, eligible: bool = True, event_id: str | None = None) -> CloudEvent:
    data = {"customer_id": customer_id, "from": "active", "to": "churned", "at": at, "winback_eligible": eligible}
    return CustomerStatusChanged.new(source="/winback/risk", time=at, data=data, id=event_id)


def upserted(customer_id: str, name: str, language: str) -> CloudEvent:
    data = {"customer_id": customer_id, "name": name, "email": f"{customer_id}@example.com", "language": language}
    return CustomerUpserted.new(source="/crm", time=datetime.now(UTC), data=data)


async def read_topic(bootstrap: str, topic: str, *, expect: int, settle_s: float = 1.0) -> list[dict[str, Any]]:
    """Everything on the topic from the start: waits for `expect` records, then `settle_s` for extras."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    values: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 20
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            polled = await consumer.getmany(timeout_ms=200)
            values.extend(json.loads(r.value) for batch in polled.values() for r in batch)
            if len(values) >= expect and quiet_until is None:
                quiet_until = time.monotonic() + settle_s
            if quiet_until is not None and time.monotonic() >= quiet_until:
                break
    finally:
        await consumer.stop()
    return values


async def test_consent_outage_sends_nothing_then_allow_triggers_and_objection_suppresses(
    stack: tuple[httpx.AsyncClient, ConsentStub], kafka_bootstrap: str
) -> None:
    client, stub = stack
    now = datetime.now(UTC)
    trigger = status_changed(ALLOWED, at=now - timedelta(hours=1), event_id=str(uuid.uuid4()))
    await publish(
        kafka_bootstrap,
        [
            (Topic.EVENTS, upserted(ALLOWED, "Alice", "en")),
            (Topic.EVENTS, upserted(OBJECTED, "Bernd", "de")),
            (Topic.RISK, trigger),
            (Topic.RISK, trigger),  # redelivered: still one enrolment
            (Topic.RISK, status_changed(OBJECTED, at=now - timedelta(hours=2))),
            (Topic.RISK, status_changed(OLD, at=now - timedelta(days=30))),
            (Topic.RISK, status_changed(INELIGIBLE, at=now - timedelta(hours=1), eligible=False)),
        ],
    )

    async def enrollments(customer_id: str) -> list[dict[str, Any]]:
        response = await client.get(f"/v1/customers/{customer_id}/enrollments")
        assert response.status_code == 200
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    # Phase 1: consent is down. Both eligible customers are enrolled, nothing is sent.
    [allowed_enrollment] = await until(lambda: enrollments(ALLOWED))
    await until(lambda: enrollments(OBJECTED))
    await asyncio.sleep(2.5)  # several scheduler rounds fail against the missing consent service
    assert (await client.get("/v1/actions")).json() == {"items": [], "next_cursor": None}
    assert await read_topic(kafka_bootstrap, Topic.ACTIONS.value, expect=0, settle_s=0.5) == []
    assert allowed_enrollment["playbook_id"] == "winback-basic" and allowed_enrollment["status"] == "active"
    assert [s["status"] for s in allowed_enrollment["steps"]] == ["pending"]
    assert await enrollments(OLD) == [] and await enrollments(INELIGIBLE) == []

    # Phase 2: consent comes back; the retry settles both steps exactly once.
    stub.start()

    async def two_actions() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await client.get("/v1/actions")).json()["items"]
        return items if len(items) >= 2 else None

    await until(two_actions)
    await asyncio.sleep(0.5)
    items = (await client.get("/v1/actions", params={"limit": 10})).json()["items"]
    by_customer = {i["customer_id"]: i for i in items}
    assert len(items) == 2 and set(by_customer) == {ALLOWED, OBJECTED}
    triggered, suppressed = by_customer[ALLOWED], by_customer[OBJECTED]
    assert triggered["status"] == "triggered" and triggered["channel"] == "email"
    assert triggered["template"] == "we_miss_you" and triggered["playbook_id"] == "winback-basic"
    assert triggered["action_id"] == action_id_for(allowed_enrollment["enrollment_id"], "1")
    assert triggered["recipient"] == {"email": f"{ALLOWED}@example.com", "name": "Alice"}
    assert triggered["content"]["language"] == "en" and "Alice" in triggered["content"]["subject"]
    assert suppressed["status"] == "suppressed" and suppressed["reason"] == "objection"

    # Consent was asked with dispatch, as advertising, with the action id as request id.
    asked = {r["request_id"]: r for r in stub.requests}
    assert asked[triggered["action_id"]]["dispatch"] is True
    assert asked[triggered["action_id"]]["content"] == "advertising"
    assert set(stub.auth) == {"Bearer dev-admin-key"}

    only_triggered = (await client.get("/v1/actions", params={"status": "triggered"})).json()["items"]
    assert [i["customer_id"] for i in only_triggered] == [ALLOWED]
    page = (await client.get("/v1/actions", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (await client.get("/v1/actions", params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert {page["items"][0]["action_id"], rest["items"][0]["action_id"]} == {i["action_id"] for i in items}

    [exited] = await enrollments(OBJECTED)
    assert (exited["status"], exited["exit_reason"]) == ("exited", "objection")
    [completed] = await enrollments(ALLOWED)
    assert completed["status"] == "completed" and completed["steps"][0]["status"] == "triggered"

    # Exactly these two events on winback.actions.
    published = await read_topic(kafka_bootstrap, Topic.ACTIONS.value, expect=2)
    assert sorted((e["type"], e["data"]["customer_id"]) for e in published) == [
        ("action.suppressed", OBJECTED),
        ("action.triggered", ALLOWED),
    ]
    event = next(e for e in published if e["type"] == "action.triggered")
    assert event["source"] == "/winback/campaign"
    assert event["data"]["consent"] == {"basis": "express_consent", "evidence_ids": ["ev-1"]}
    content = event["data"]["content"]
    assert content["opt_out_url"] in content["body"] and content["sender"]["name"] in content["body"]

    campaign_events = await read_topic(kafka_bootstrap, Topic.CAMPAIGN.value, expect=3)
    assert sorted(e["type"] for e in campaign_events) == ["campaign.enrolled", "campaign.enrolled", "campaign.exited"]


async def test_playbooks_and_auth(stack: tuple[httpx.AsyncClient, ConsentStub]) -> None:
    client, _ = stack
    listing = (await client.get("/v1/playbooks")).json()["items"]
    assert "winback-basic" in [p["playbook_id"] for p in listing] and len(listing) == 10
    one = (await client.get("/v1/playbooks/winback-basic")).json()
    assert one["steps"][0]["after"] == "P0D" and one["holdout_percent"] == 10 and one["version"] == 1
    missing = await client.get("/v1/playbooks/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    anonymous = await client.get("/v1/actions", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert (await client.get("/v1/actions", params={"cursor": "garbage"})).status_code == 400
    assert (
        await client.put("/v1/playbooks/x", json={}, headers={"Authorization": "Bearer dev-ingest-key"})
    ).status_code == 403


async def test_put_validates_and_versions_playbooks(stack: tuple[httpx.AsyncClient, ConsentStub]) -> None:
    client, _ = stack
    document = (await client.get("/v1/playbooks/grass-greener")).json()
    bad = {**document, "steps": [{**document["steps"][0], "offer": "discount_15"}]}
    rejected = await client.put("/v1/playbooks/grass-greener", json=bad)
    assert rejected.status_code == 422 and "only for reasons price or budget" in rejected.json()["detail"]
    unknown = await client.put(
        "/v1/playbooks/grass-greener", json={**document, "steps": [{**document["steps"][0], "template": "nope"}]}
    )
    assert unknown.status_code == 422 and "unknown template 'nope'" in unknown.json()["detail"]
    parts = {"subject": "Hi {{ name }}", "body": "Hi {{ name }}", "html": "<p>Hi {{ name }}<!-- the footer is gone"}
    hidden = await client.put(
        "/v1/playbooks/grass-greener", json={**document, "templates": {"t": {"de": parts, "en": parts}}}
    )
    assert hidden.status_code == 422
    assert "templates.t: Value error, de.html: an HTML comment is never closed" in hidden.json()["detail"]
    wrong_id = await client.put("/v1/playbooks/grass-greener", json={**document, "playbook_id": "other"})
    assert wrong_id.status_code == 422
    saved = await client.put("/v1/playbooks/grass-greener", json={**document, "holdout_percent": 20})
    assert saved.status_code == 200 and saved.json()["version"] == 2
    again = await client.put("/v1/playbooks/grass-greener", json={**document, "holdout_percent": 25})
    assert again.json()["version"] == 3
    current = (await client.get("/v1/playbooks/grass-greener")).json()
    assert (current["version"], current["holdout_percent"]) == (3, 25)
    event_preview = await client.post("/v1/playbooks/feature-released/preview", json={})
    assert event_preview.status_code == 422


async def test_moving_the_clock_runs_steps_that_became_due(
    stack: tuple[httpx.AsyncClient, ConsentStub], kafka_bootstrap: str
) -> None:
    client, stub = stack
    stub.start()
    now = datetime.now(UTC)
    # A trigger time ahead of the clock: its step falls due only when the clock gets there.
    await publish(
        kafka_bootstrap,
        [
            (Topic.EVENTS, upserted("c-later", "Carla", "de")),
            (Topic.RISK, status_changed("c-later", at=now + timedelta(days=2))),
        ],
    )

    async def enrolled() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await client.get("/v1/customers/c-later/enrollments")).json()["items"]
        return items

    [enrollment] = await until(enrolled)
    await asyncio.sleep(1.0)
    assert (await client.get("/v1/actions", params={"customer_id": "c-later"})).json()["items"] == []
    moved = await client.post("/v1/clock", json={"now": (now + timedelta(days=2, hours=1)).isoformat()})
    assert moved.status_code == 200

    async def settled() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await client.get("/v1/actions", params={"customer_id": "c-later"})).json()[
            "items"
        ]
        return items

    [action] = await until(settled, timeout_s=10)
    # The stub objects for everyone but ALLOWED: consent was asked once the step became due.
    assert action["enrollment_id"] == enrollment["enrollment_id"]
    assert (action["status"], action["reason"]) == ("suppressed", "objection")
