"""Consent against the real broker and database: events in, decisions out, the ledger verified."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from tests.support.kafka import produce_events
from tests.support.polling import until
from winback_consent.bootstrap import MIGRATIONS, build_app
from winback_consent.settings import ConsentSettings
from winback_shared.db.migrate import upgrade
from winback_shared.events.inbound import ConsentGranted, ContactObjected, CustomerUpserted
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

OPS = {"Authorization": "Bearer ops-key"}
RUN = uuid.uuid4().hex[:8]
A, B = f"cust-a-{RUN}", f"cust-b-{RUN}"
GIVEN = datetime.now(UTC) - timedelta(hours=2)


@pytest.fixture(scope="module")
async def client(kafka_bootstrap: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
    settings = ConsentSettings(
        kafka_bootstrap=kafka_bootstrap, database_url=database_url, env="test", api_keys="ops-key:ops,admin-key:admin"
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://consent") as http:
            yield http


async def decide(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/decisions", json=body, headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def grant_a() -> ConsentGranted:
    return ConsentGranted.new(
        source="/crm/consents",
        id=f"grant-{A}",
        time=GIVEN,
        data={
            "customer_id": A,
            "channel": "email",
            "kind": "express",
            "method": "double_opt_in",
            "evidence": {"confirmed_at": (GIVEN + timedelta(minutes=5)).isoformat(), "text_version": "nl-2025-01"},
        },
    )


async def test_events_become_decisions(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    await produce_events(
        kafka_bootstrap,
        [
            CustomerUpserted.new(source="/crm", time=GIVEN, data={"customer_id": A, "email": "a@example.org"}),
            grant_a(),
            CustomerUpserted.new(source="/crm", time=GIVEN, data={"customer_id": B, "email": "b@example.org"}),
            ContactObjected.new(source="/crm", time=GIVEN, data={"customer_id": B, "channels": ["all"]}),
        ],
    )

    async def b_objected() -> bool:
        return bool((await decide(client, customer_id=B, channel="email"))["reason"] == "objection")

    await until(b_objected)
    a = await decide(client, customer_id=A, channel="email")
    assert a["allowed"] is True and a["basis"] == "express_consent" and a["reason"] is None
    assert len(a["evidence_ids"]) == 1
    b = await decide(client, customer_id=B, channel="email")
    assert b == {**b, "allowed": False, "basis": None, "reason": "objection", "evidence_ids": []}
    unknown = await decide(client, customer_id="nobody", channel="email")
    assert unknown["reason"] == "unknown_customer"


async def test_a_redelivered_event_changes_nothing(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    # The marker shares A's key (so its partition, after the duplicate): once it shows, the duplicate was seen.
    marker = CustomerUpserted.new(
        source="/crm", time=GIVEN + timedelta(minutes=1), data={"customer_id": A, "kind": "business"}
    )
    await produce_events(kafka_bootstrap, [grant_a(), marker])

    async def marker_applied() -> bool:
        return bool((await client.get(f"/v1/customers/{A}/consents", headers=OPS)).json()["kind"] == "business")

    await until(marker_applied)
    verified = (await client.get(f"/v1/customers/{A}/ledger/verify", headers=OPS)).json()
    assert verified == {"valid": True, "entries": 1}


async def test_dispatch_records_one_use_per_request_id(client: httpx.AsyncClient) -> None:
    first = await decide(client, customer_id=A, channel="email", dispatch=True, request_id=f"action-{RUN}")
    again = await decide(client, customer_id=A, channel="email", dispatch=True, request_id=f"action-{RUN}")
    assert first["allowed"] and again["allowed"]
    batch = await client.post(
        "/v1/decisions:batch",
        json={
            "items": [
                {"customer_id": A, "channel": "email", "dispatch": True, "request_id": f"action-{RUN}"},
                {"customer_id": B, "channel": "post", "dispatch": True},
            ]
        },
        headers=OPS,
    )
    assert [i["allowed"] for i in batch.json()["items"]] == [True, False]
    consents = (await client.get(f"/v1/customers/{A}/consents", headers=OPS)).json()
    uses = [e for e in consents["ledger"] if e["entry_type"] == "use"]
    assert len(uses) == 1
    assert uses[0]["payload"]["evidence_ids"] == first["evidence_ids"]
    email = next(c for c in consents["channels"] if c["channel"] == "email")
    assert email["basis"] == "express_consent" and email["expires_at"] is not None


async def test_a_dispatch_for_a_known_customer_without_a_chain_head_creates_it_first(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # The batch locks existing heads in one statement; a known customer without one makes it roll
    # back and start again creating the heads first. An unknown id still gets none.
    known, unknown = f"headless-{RUN}", f"nobody-{RUN}"
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("INSERT INTO consent.customers (customer_id, known_since) VALUES ($1, now())", known)
        await conn.execute("SELECT consent.refresh_snapshots($1::text[])", [known])
        batch = await client.post(
            "/v1/decisions:batch",
            json={
                "items": [
                    {"customer_id": unknown, "channel": "post", "dispatch": True, "request_id": f"h1-{RUN}"},
                    {"customer_id": known, "channel": "post", "dispatch": True, "request_id": f"h2-{RUN}"},
                ]
            },
            headers=OPS,
        )
        heads = await conn.fetch(
            "SELECT customer_id, seq FROM consent.ledger_heads WHERE customer_id = ANY($1::text[])", [known, unknown]
        )
    finally:
        await conn.close()
    assert batch.status_code == 200, batch.text
    assert [(i["allowed"], i["basis"] or i["reason"]) for i in batch.json()["items"]] == [
        (False, "unknown_customer"),
        (True, "postal_legitimate_interest"),
    ]
    assert [(r["customer_id"], r["seq"]) for r in heads] == [(known, 1)]
    verified = (await client.get(f"/v1/customers/{known}/ledger/verify", headers=OPS)).json()
    assert verified == {"valid": True, "entries": 1}


async def test_a_dispatched_use_leaves_the_snapshot_a_full_rebuild_would_give(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # Dispatch adds its `use` to the stored snapshot instead of rebuilding it from every table:
    # the two must agree, or the next decision would rest on a different ledger than the table's.
    for n in range(3):
        batch = await client.post(
            "/v1/decisions:batch",
            json={"items": [{"customer_id": A, "channel": "email", "dispatch": True, "request_id": f"snap-{n}-{RUN}"}]},
            headers=OPS,
        )
        assert [i["allowed"] for i in batch.json()["items"]] == [True]
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        query = "SELECT doc::text FROM consent.decision_snapshots WHERE customer_id = $1"
        appended = await conn.fetchval(query, A)
        await conn.execute("SELECT consent.refresh_snapshots($1::text[])", [A])
        rebuilt = await conn.fetchval(query, A)
        uses = await conn.fetchval(
            "SELECT count(*) FROM consent.ledger WHERE customer_id = $1 AND request_id LIKE 'snap-%'", A
        )
    finally:
        await conn.close()
    assert uses == 3
    assert json.loads(appended) == json.loads(rebuilt)
    assert appended == rebuilt
    # Migration 0007: a use keeps only what the rules read of it, its evidence ids.
    snapshot_uses = [e for e in json.loads(rebuilt)["ledger"] if e[2] == "use"]
    assert len(snapshot_uses) >= 3
    assert all(set(e[4]) == {"evidence_ids"} and e[4]["evidence_ids"] for e in snapshot_uses)


async def test_objection_by_ops_blocks_and_is_announced(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    response = await client.post(
        f"/v1/customers/{A}/objections", json={"channels": ["sms"], "note": "by phone"}, headers=OPS
    )
    assert response.status_code == 201, response.text
    assert (await decide(client, customer_id=A, channel="sms"))["reason"] == "objection"
    assert (await decide(client, customer_id=A, channel="email"))["allowed"] is True
    seen = await read_consent_topic(kafka_bootstrap, expected=3)
    assert {(e["data"]["customer_id"], e["data"]["channel"], e["data"]["state"]) for e in seen} >= {
        (A, "email", "granted"),
        (B, "all", "objected"),
        (A, "sms", "objected"),
    }
    assert all(e["source"] == "/winback/consent" and e["type"] == "consent.changed" for e in seen)


async def read_consent_topic(bootstrap: str, expected: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        Topic.CONSENT.value,
        bootstrap_servers=bootstrap,
        group_id=f"t-{RUN}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(seen) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(json.loads(r.value) for r in records)
    finally:
        await consumer.stop()
    return seen


async def test_roles_and_policy(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/decisions", json={"customer_id": A, "channel": "email"})).status_code == 401
    policy = await client.get("/v1/policy", headers=OPS)
    assert policy.json() == {
        "staleness_days": 730,
        "exception_after_cancellation": False,
        "relationship_window_months": 24,
    }
    bad = await client.post("/v1/decisions", json={"customer_id": A, "channel": "pigeon"}, headers=OPS)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_tampering_is_detected(client: httpx.AsyncClient, database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE consent.ledger SET payload = '{}' WHERE customer_id = $1", A)
        grant_id = await conn.fetchval("SELECT id FROM consent.ledger WHERE customer_id = $1 AND seq = 1", A)
        # Someone with owner rights switches the guard off and rewrites the proof.
        await conn.execute("ALTER TABLE consent.ledger DISABLE TRIGGER ledger_append_only")
        await conn.execute(
            "UPDATE consent.ledger SET payload = jsonb_set(payload, '{method}', '\"written\"') WHERE id = $1", grant_id
        )
        await conn.execute("ALTER TABLE consent.ledger ENABLE TRIGGER ledger_append_only")
    finally:
        await conn.close()
    verified = (await client.get(f"/v1/customers/{A}/ledger/verify", headers=OPS)).json()
    assert verified["valid"] is False
    assert verified["first_broken_entry"] == grant_id
    intact = (await client.get(f"/v1/customers/{B}/ledger/verify", headers=OPS)).json()
    assert intact["valid"] is True


async def test_an_internal_error_fails_closed(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr("winback_consent.entrypoints.http.decide_many", broken)
    response = await client.post("/v1/decisions", json={"customer_id": A, "channel": "email"}, headers=OPS)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "allowed" not in response.json()


async def test_consent_goes_stale_when_time_passes(client: httpx.AsyncClient) -> None:
    later = datetime.now(UTC) + timedelta(days=800)
    moved = await client.post(
        "/v1/clock", json={"now": later.isoformat()}, headers={"Authorization": "Bearer admin-key"}
    )
    assert moved.status_code == 200, moved.text
    assert (await decide(client, customer_id=A, channel="email"))["reason"] == "consent_stale"


async def test_a_request_naming_an_event_not_applied_yet_is_answered_not_yet(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    c = f"cust-late-{RUN}"
    profile = CustomerUpserted.new(source="/crm", time=GIVEN, data={"customer_id": c, "email": "late@example.org"})
    grant = ConsentGranted.new(
        source="/crm/consents",
        id=f"grant-{c}",
        time=GIVEN,
        data={**grant_a().data.model_dump(), "customer_id": c},
    )
    cause = {"source": grant.source, "id": grant.id}
    # At a fixed moment: an earlier test moved the service's clock past the consent's staleness limit.
    at = (GIVEN + timedelta(hours=1)).isoformat()
    body = {"customer_id": c, "channel": "email", "at": at, "caused_by": cause}

    single = await client.post("/v1/decisions", json=body, headers=OPS)
    assert single.status_code == 409 and single.headers["content-type"] == "application/problem+json"
    assert single.headers["retry-after"] == "1"
    problem = single.json()
    assert {k: problem[k] for k in ("allowed", "pending", "basis", "reason", "evidence_ids", "caused_by")} == {
        "allowed": False,
        "pending": True,
        "basis": None,
        "reason": "not_yet_applied",
        "evidence_ids": [],
        "caused_by": cause,
    }
    batch = await client.post(
        "/v1/decisions:batch",
        json={
            "items": [
                {**body, "dispatch": True, "request_id": f"r-{c}"},
                {"customer_id": A, "channel": "email", "at": at},
            ]
        },
        headers=OPS,
    )
    pending, unrelated = batch.json()["items"]
    assert {k: pending[k] for k in ("allowed", "pending", "basis", "reason", "evidence_ids")} == {
        "allowed": False,
        "pending": True,
        "basis": None,
        "reason": "not_yet_applied",
        "evidence_ids": [],
    }
    assert "pending" not in unrelated  # an item naming no event is decided as before

    await produce_events(kafka_bootstrap, [profile, grant])

    async def applied() -> bool:
        return (await client.post("/v1/decisions", json=body, headers=OPS)).status_code == 200

    await until(applied)
    allowed = await decide(client, **body)
    assert (allowed["allowed"], allowed["basis"], "pending" in allowed) == (True, "express_consent", False)
    # After the named event, a customer consent never heard of is really unknown: DENY, not "not yet".
    nobody = await decide(client, customer_id=f"nobody-{RUN}", channel="email", at=at, caused_by=cause)
    assert (nobody["allowed"], nobody["reason"], "pending" in nobody) == (False, "unknown_customer", False)
    # The "not yet" dispatch recorded no use of the consent.
    consents = (await client.get(f"/v1/customers/{c}/consents", headers=OPS)).json()
    assert [e for e in consents["ledger"] if e["entry_type"] == "use"] == []
