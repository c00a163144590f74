"""Consent's suppression list, double opt-in and GDPR erasure against the real broker and database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
import httpx
import pytest

from tests.support.kafka import produce_events, read_topic
from tests.support.polling import eventually
from winback_consent.bootstrap import MIGRATIONS, build_app
from winback_consent.settings import ConsentSettings
from winback_shared.db.migrate import upgrade
from winback_shared.events.inbound import ConsentGranted, CustomerUpserted
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

OPS = {"Authorization": "Bearer ops-key"}
ADMIN = {"Authorization": "Bearer admin-key"}
RUN = uuid.uuid4().hex[:8]
GIVEN = datetime.now(UTC) - timedelta(hours=2)
DOI_EVIDENCE = {"confirmed_at": GIVEN.isoformat(), "text_version": "nl-1"}


@pytest.fixture(scope="module")
async def client(kafka_bootstrap: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
    settings = ConsentSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        env="test",
        api_keys="ops-key:ops,admin-key:admin",
        consent_hash_key="integration-test-hash-key",
    )
    app = build_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://c") as http:
        yield http


def profile(customer_id: str, at: datetime, **data: Any) -> CustomerUpserted:
    return CustomerUpserted.new(source="/crm", time=at, data={"customer_id": customer_id, **data})


def email_consent(customer_id: str, at: datetime) -> ConsentGranted:
    data = {"customer_id": customer_id, "channel": "email", "kind": "express", "method": "written"}
    return ConsentGranted.new(source="/crm", time=at, data={**data, "evidence": {"document_ref": "scan-1"}})


async def decide(client: httpx.AsyncClient, customer_id: str, channel: str) -> dict[str, Any]:
    response = await client.post("/v1/decisions", json={"customer_id": customer_id, "channel": channel}, headers=OPS)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def until(client: httpx.AsyncClient, customer_id: str, channel: str, key: str, value: Any) -> dict[str, Any]:
    """Decide repeatedly until the answer's `key` is `value` (events take a moment to be consumed)."""
    return await eventually(lambda: decide(client, customer_id, channel), lambda r: r[key] == value)


async def test_imported_blocking_list_entries_suppress_until_a_later_express_consent(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    s = f"supp-{RUN}"
    await produce_events(
        kafka_bootstrap,
        [
            profile(s, GIVEN, email="Sup.Pressed@Example.org", phone="0170 5550001"),
            email_consent(s, GIVEN),
            ConsentGranted.new(
                source="/crm",
                time=GIVEN,
                data={
                    "customer_id": s,
                    "channel": "sms",
                    "kind": "express",
                    "method": "written",
                    "evidence": {"text_version": "v1"},
                },
            ),
        ],
    )
    await until(client, s, "sms", "allowed", True)
    entries = [
        {"channel": "email", "value": "  sup.pressed@EXAMPLE.org"},
        {"channel": "phone", "value": "+49 (0)170 555 00 01"},
        {"channel": "post", "value": {"street": "Musterstraße 1", "postal_code": "10115", "city": "Berlin"}},
    ]
    assert (await client.post("/v1/suppressions", json={"entries": entries}, headers=OPS)).status_code == 403
    imported = await client.post("/v1/suppressions", json={"entries": entries, "list_name": "robinson"}, headers=ADMIN)
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"received": 3, "added": 3, "relisted": 0}
    assert (await decide(client, s, "email"))["reason"] == "suppressed"
    assert (await decide(client, s, "sms"))["reason"] == "suppressed"
    # A new express consent after the listing lifts it for that channel only.
    await produce_events(kafka_bootstrap, [email_consent(s, datetime.now(UTC))])
    allowed = await until(client, s, "email", "allowed", True)
    assert allowed["basis"] == "express_consent" and len(allowed["evidence_ids"]) == 2
    assert (await decide(client, s, "sms"))["reason"] == "suppressed"

    bad = [{"channel": "email", "value": "ok@example.org"}, {"channel": "phone", "value": "call me maybe"}]
    refused = await client.post("/v1/suppressions", json={"entries": bad}, headers=ADMIN)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [e["index"] for e in refused.json()["errors"]] == [1]
    assert "call me" not in refused.text


async def test_double_opt_in_sends_a_service_mail_and_confirms_an_express_consent(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    d = f"doi-{RUN}"
    await produce_events(kafka_bootstrap, [profile(d, GIVEN, email="doi@example.org")])
    await until(client, d, "email", "reason", "no_consent")
    unknown = await client.post("/v1/double-opt-in", json={"customer_id": "nobody", "email": "x@y.de"}, headers=OPS)
    assert unknown.status_code == 404
    started = await client.post("/v1/double-opt-in", json={"customer_id": d, "email": "doi@example.org"}, headers=OPS)
    assert started.status_code == 202, started.text

    async def mail() -> dict[str, Any] | None:
        actions = await read_topic(kafka_bootstrap, Topic.ACTIONS.value, idle_s=0.5)
        return next((a for a in actions if a["data"]["customer_id"] == d), None)

    action = await eventually(mail, lambda a: a is not None)
    assert action is not None
    assert action["type"] == "action.triggered"
    data = action["data"]
    assert (data["channel"], data["template"]) == ("email", "doi_confirmation")
    assert data["consent"]["basis"] == "service_message"
    assert data["recipient"] == {"email": "doi@example.org"}
    token = parse_qs(urlparse(data["content"]["confirmation_url"]).query)["token"][0]

    assert (await client.post("/v1/double-opt-in/confirm", json={"token": "x" * 43}, headers=OPS)).status_code == 404
    confirmed = await client.post("/v1/double-opt-in/confirm", json={"token": token, "ip": "192.0.2.7"}, headers=OPS)
    assert confirmed.status_code == 200, confirmed.text
    again = await client.post("/v1/double-opt-in/confirm", json={"token": token}, headers=OPS)
    assert again.json()["grant_id"] == confirmed.json()["grant_id"]
    email = await decide(client, d, "email")
    assert email["allowed"] and email["evidence_ids"] == [confirmed.json()["grant_id"]]
    # A DOI proves e-mail consent only.
    assert (await decide(client, d, "phone"))["allowed"] is False
    ledger = (await client.get(f"/v1/customers/{d}/consents", headers=OPS)).json()["ledger"]
    grant = next(e for e in ledger if e["id"] == confirmed.json()["grant_id"])
    assert grant["payload"]["method"] == "double_opt_in"
    assert {"confirmed_at", "text_version", "ip"} <= grant["payload"]["evidence"].keys()


async def test_erasure_keeps_hashes_so_a_reimport_stays_blocked(
    client: httpx.AsyncClient, kafka_bootstrap: str, database_url: str
) -> None:
    e, twin = f"erase-{RUN}", f"twin-{RUN}"
    address = {"street": "Erasestraße 9", "postal_code": "20095", "city": "Hamburg"}
    await produce_events(
        kafka_bootstrap,
        [profile(e, GIVEN, email="gone@example.org", phone="040 5550009", postal_address=address)],
    )
    await produce_events(kafka_bootstrap, [email_consent(e, GIVEN)])
    await until(client, e, "email", "allowed", True)
    assert (await client.delete(f"/v1/customers/{e}", headers=OPS)).status_code == 403
    erased = await client.delete(f"/v1/customers/{e}", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert erased.json()["suppressed"] == ["email", "phone", "postal"]
    assert (await client.delete("/v1/customers/never-seen", headers=ADMIN)).status_code == 404

    assert (await decide(client, e, "email"))["reason"] == "unknown_customer"
    assert (await client.get(f"/v1/customers/{e}/consents", headers=OPS)).status_code == 404
    verified = (await client.get(f"/v1/customers/{e}/ledger/verify", headers=OPS)).json()
    assert verified == {"valid": True, "entries": 2}
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        dump = str(await conn.fetch("SELECT * FROM consent.ledger WHERE customer_id = $1", e))
        dump += str(await conn.fetch("SELECT * FROM consent.customers WHERE customer_id = $1", e))
        dump += str(await conn.fetch("SELECT * FROM consent.suppressions"))
    finally:
        await conn.close()
    assert "gone@example.org" not in dump and "5550009" not in dump and "Erasestra" not in dump
    assert "scan-1" not in dump

    # The same address comes back under the old id and a new one: blocked, post included.
    later = datetime.now(UTC)
    await produce_events(
        kafka_bootstrap,
        [
            profile(e, later, email="GONE@example.org"),
            profile(twin, later, email="gone@example.org", postal_address=address),
        ],
    )
    await until(client, e, "email", "reason", "suppressed")
    await until(client, twin, "email", "reason", "suppressed")
    assert (await decide(client, twin, "post"))["reason"] == "suppressed"
    # Until a new express consent.
    await produce_events(kafka_bootstrap, [email_consent(twin, datetime.now(UTC))])
    await until(client, twin, "email", "allowed", True)
    assert (await decide(client, e, "email"))["reason"] == "suppressed"


async def test_an_expired_doi_link_is_gone(client: httpx.AsyncClient, kafka_bootstrap: str) -> None:
    x = f"doi-late-{RUN}"
    await produce_events(kafka_bootstrap, [profile(x, GIVEN, email="late@example.org")])
    await until(client, x, "email", "reason", "no_consent")
    started = await client.post("/v1/double-opt-in", json={"customer_id": x, "email": "late@example.org"}, headers=OPS)
    assert started.status_code == 202

    async def link() -> str | None:
        actions = await read_topic(kafka_bootstrap, Topic.ACTIONS.value, idle_s=0.5)
        urls = [a["data"]["content"]["confirmation_url"] for a in actions if a["data"]["customer_id"] == x]
        return urls[0] if urls else None

    url = await eventually(link, lambda u: u is not None)
    token = parse_qs(urlparse(str(url)).query)["token"][0]
    moved = await client.post(
        "/v1/clock", json={"now": (datetime.now(UTC) + timedelta(hours=73)).isoformat()}, headers=ADMIN
    )
    assert moved.status_code == 200, moved.text
    gone = await client.post("/v1/double-opt-in/confirm", json={"token": token}, headers=OPS)
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
