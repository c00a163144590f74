"""Signed webhooks against a real database and a real HTTP receiver: retries, dead letters, the API."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.db import migrated
from tests.support.polling import eventually
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters.tables import outbox, webhook_deliveries
from winback_campaign.adapters.unit_of_work import SqlUnitOfWork
from winback_campaign.adapters.webhook_sender import WebhookSender
from winback_campaign.bootstrap import MIGRATIONS, build_app
from winback_campaign.domain.actions import ConsentDecision, ConsentRequest
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.enrollment import EnrollmentPlan, StatusChange, plan_enrollment
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.domain.webhooks import RetryPolicy, signature_valid
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_campaign.service_layer.webhooks import DelivererConfig, WebhookDeliverer
from winback_campaign.settings import CampaignSettings
from winback_cli.servers import free_port
from winback_shared.clock import FixedClock

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
SECRET = "webhook-test-secret-0123456789"


class Receiver:
    """A webhook endpoint per mode: `flaky` fails an action's first two attempts, `down` always fails."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.accept_all = False
        app = FastAPI()

        @app.post("/{mode}")
        async def hook(mode: str, request: Request) -> Response:
            body = await request.body()
            key = request.headers.get("idempotency-key")
            tries = sum(1 for r in self.received if r["key"] == key) + 1
            ok = self.accept_all or (mode == "flaky" and tries > 2)
            self.received.append(
                {
                    "key": key,
                    "body": body,
                    "signed": signature_valid(SECRET, body, request.headers.get("x-winback-signature")),
                    "accepted": ok,
                }
            )
            return Response(status_code=200 if ok else 503)

        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


class AllowAll:
    async def decide(self, requests: Sequence[ConsentRequest]) -> dict[str, ConsentDecision]:
        return {r.request_id: ConsentDecision(True, "express_consent", None, ("ev",)) for r in requests}

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated(database_url, MIGRATIONS) as engine:
        yield engine


@pytest.fixture
async def sessions(engine: AsyncEngine, receiver: Receiver) -> async_sessionmaker[AsyncSession]:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE campaign.actions, campaign.enrollment_steps, campaign.enrollments,"
                " campaign.customers, campaign.outbox, campaign.webhook_deliveries"
            )
        )
    receiver.received.clear()
    receiver.accept_all = False
    return async_sessionmaker(engine, expire_on_commit=False)


async def settle_steps(sessions: async_sessionmaker[AsyncSession], n: int, webhook_url: str) -> list[str]:
    """Enrol n customers, run the scheduler with an e-mail webhook; returns the triggered action ids."""
    plans = []
    for i in range(n):
        change = StatusChange(f"c{i}", "churned", T0, True, "/winback/risk", f"e{i}", value_tier="C")
        plan = plan_enrollment(
            change, BUILTIN_PLAYBOOKS, now=T0, has_active_enrollment=False, replay_window=timedelta(days=7)
        )
        assert isinstance(plan, EnrollmentPlan)
        plans.append(plan)
    profiles = {f"c{i}": {"name": f"N{i}", "email": f"c{i}@example.com", "language": "de"} for i in range(n)}
    async with sessions.begin() as session:
        await repo.upsert_profiles(session, profiles, T0)
        await repo.insert_enrollments(session, plans, {}, T0)
    scheduler = Scheduler(
        uow=lambda: SqlUnitOfWork(sessions),
        clock=FixedClock(T0),
        consent=AllowAll(),
        sender=SenderIdentity("Acme", "Weg 1", "hi@acme.example", "https://acme.example/u"),
        config=SchedulerConfig(batch_size=50, webhooks={"email": webhook_url}),
    )
    await scheduler.drain()
    async with sessions() as session:
        ids = list(await session.scalars(select(webhook_deliveries.c.action_id)))
    assert ids, "the holdout took every customer"
    return ids


async def deliveries(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as session:
        rows = await session.execute(select(webhook_deliveries))
        return {r.action_id: r for r in rows}


async def test_flaky_receiver_gets_each_action_accepted_exactly_once(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    action_ids = await settle_steps(sessions, 12, receiver.url("flaky"))
    # Written in the scheduler's transaction, with the very bytes of the action.triggered event.
    async with sessions() as session:
        payloads = set(await session.scalars(select(outbox.c.payload).where(outbox.c.event_type == "action.triggered")))
    assert {bytes(r.payload) for r in (await deliveries(sessions)).values()} == payloads

    clock = FixedClock(T0)
    policy = RetryPolicy(max_attempts=5, base=timedelta(seconds=10), ceiling=timedelta(minutes=1))
    deliverer = WebhookDeliverer(
        sessions=sessions,
        clock=clock,
        sender=WebhookSender(timeout_s=5),
        config=DelivererConfig(secret=SECRET, policy=policy, batch_size=5),
    )
    assert await deliverer.deliver_due() == 5
    # The failed ones wait for their backoff: nothing is due until the clock passes it.
    while await deliverer.deliver_due():
        pass
    assert Counter(r["key"] for r in receiver.received) == {a: 1 for a in action_ids}
    for _ in range(4):
        clock.advance(timedelta(seconds=30))
        while await deliverer.deliver_due():
            pass
    rows = await deliveries(sessions)
    assert {r.status for r in rows.values()} == {"delivered"} and {r.attempts for r in rows.values()} == {3}
    assert all(r["signed"] for r in receiver.received)
    accepted = Counter(r["key"] for r in receiver.received if r["accepted"])
    assert accepted == {a: 1 for a in action_ids}
    assert Counter(r["key"] for r in receiver.received) == {a: 3 for a in action_ids}
    assert {r["body"] for r in receiver.received} == payloads


async def test_receiver_that_always_fails_ends_in_dead_letters_visible_and_retryable(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver, kafka_bootstrap: str, database_url: str
) -> None:
    action_ids = await settle_steps(sessions, 4, receiver.url("down"))
    settings = CampaignSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        consent_url=f"http://127.0.0.1:{free_port()}",
        webhooks={"email": receiver.url("down")},
        webhook_secret=SECRET,
        webhook_max_attempts=3,
        webhook_backoff_s=0.05,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer dev-admin-key"}
        async with httpx.AsyncClient(transport=transport, base_url="http://campaign", headers=headers) as client:

            async def dead() -> list[dict[str, Any]]:
                response = await client.get("/v1/webhook-deliveries", params={"status": "dead"})
                assert response.status_code == 200
                items: list[dict[str, Any]] = response.json()["items"]
                return items

            letters = await eventually(dead, lambda items: len(items) == len(action_ids))
            assert {d["action_id"] for d in letters} == set(action_ids)
            assert {d["attempts"] for d in letters} == {3} and all("503" in d["last_error"] for d in letters)
            assert Counter(r["key"] for r in receiver.received) == {a: 3 for a in action_ids}

            page = (await client.get("/v1/webhook-deliveries", params={"limit": 3})).json()
            rest = (await client.get("/v1/webhook-deliveries", params={"cursor": page["next_cursor"]})).json()
            assert len(page["items"]) == 3 and len(page["items"] + rest["items"]) == len(action_ids)
            assert rest["next_cursor"] is None

            # The receiver is fixed; ops retry one dead letter: it is delivered once, then refuses a second retry.
            receiver.accept_all = True
            target = letters[0]["delivery_id"]
            retried = await client.post(f"/v1/webhook-deliveries/{target}/retry")
            assert retried.status_code == 200 and (retried.json()["status"], retried.json()["attempts"]) == (
                "pending",
                0,
            )

            async def delivered() -> list[dict[str, Any]]:
                items = (await client.get("/v1/webhook-deliveries", params={"status": "delivered"})).json()["items"]
                return list(items)

            [done] = await eventually(delivered, lambda items: len(items) == 1)
            assert done["delivery_id"] == target and done["attempts"] == 1
            assert (await client.post(f"/v1/webhook-deliveries/{target}/retry")).status_code == 409
            assert (await client.post("/v1/webhook-deliveries/999999/retry")).status_code == 404
            assert (await client.get("/v1/webhook-deliveries", params={"cursor": "x"})).status_code == 400
            assert (await client.get("/v1/webhook-deliveries", params={"status": "lost"})).status_code == 422
            assert (await client.get("/v1/webhook-deliveries", headers={"Authorization": ""})).status_code == 401
    assert len(await dead_rows(sessions)) == len(action_ids) - 1


async def dead_rows(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    return [r for r in (await deliveries(sessions)).values() if r.status == "dead"]
