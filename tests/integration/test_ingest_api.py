"""Ingest against a real broker and database: validation, de-duplication, acknowledgement."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.events import cancellation, event
from tests.support.kafka import produce_raw, read_records, read_topic
from tests.support.polling import eventually
from winback_cli.stack import ServiceProcess
from winback_ingest.contract import CONTRACT
from winback_shared.kafka.progress import group_progress

pytestmark = pytest.mark.integration

INGEST = {"Authorization": "Bearer dev-ingest-key"}
BATCH = {**INGEST, "Content-Type": "application/cloudevents-batch+json"}


async def test_batch_is_published_once_and_repeats_count_as_duplicates(ingest: ServiceProcess, kafka_bootstrap: str):
    events = [cancellation(f"ing-{i}") for i in range(5)]
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        first = await client.post("/v1/events", content=json.dumps(events), headers=BATCH)
        again = await client.post("/v1/events", content=json.dumps([*events[:3], events[0]]), headers=BATCH)
    assert first.status_code == 202 and first.json() == {"accepted": 5, "duplicates": 0}
    assert again.json() == {"accepted": 0, "duplicates": 4}
    published = [e for e in await read_topic(kafka_bootstrap, "winback.events") if e["id"] in {x["id"] for x in events}]
    assert sorted(e["id"] for e in published) == sorted(e["id"] for e in events)


async def test_single_event_content_type(ingest: ServiceProcess):
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        r = await client.post(
            "/v1/events",
            content=json.dumps(cancellation("ing-single")),
            headers={**INGEST, "Content-Type": "application/cloudevents+json"},
        )
    assert r.status_code == 202 and r.json()["accepted"] == 1


async def test_one_invalid_event_rejects_the_whole_request(ingest: ServiceProcess, kafka_bootstrap: str):
    good = cancellation("ing-good")
    bad = event("order.placed", {"customer_id": "ing-bad", "order_id": "o1", "amount": "not money"})
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        r = await client.post("/v1/events", json=[good, bad], headers=INGEST)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert errors == [{"index": 1, "id": bad["id"], "field": "data.amount", "message": errors[0]["message"]}]
    published = await read_topic(kafka_bootstrap, "winback.events", idle_s=0.5)
    assert good["id"] not in {e["id"] for e in published}


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Bearer dev-admin-key"}, 202)],
)
async def test_authentication(ingest: ServiceProcess, headers: dict[str, str], status: int):
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        r = await client.post("/v1/events", json=[cancellation("ing-auth")], headers=headers)
    assert r.status_code == status


async def test_limits_and_malformed_bodies(ingest: ServiceProcess):
    async with httpx.AsyncClient(base_url=ingest.url) as client:
        too_many = await client.post("/v1/events", json=[cancellation(f"x{i}") for i in range(1001)], headers=INGEST)
        too_big = await client.post("/v1/events", content=b"[" + b" " * (5 * 1024 * 1024) + b"]", headers=BATCH)
        not_json = await client.post("/v1/events", content=b"{nope", headers=BATCH)
        wrong_type = await client.post("/v1/events", content=b"[]", headers={**INGEST, "Content-Type": "text/plain"})
    assert (too_many.status_code, too_big.status_code) == (413, 413)
    assert not_json.status_code == 400
    assert wrong_type.status_code == 415


async def test_kafka_native_path_forwards_valid_and_dead_letters_invalid(ingest: ServiceProcess, kafka_bootstrap: str):
    valid = cancellation("inb-ok")
    invalid = event("order.placed", {"customer_id": "inb-bad", "order_id": "o1"})
    await produce_raw(
        kafka_bootstrap,
        "winback.inbound",
        [
            ("inb-ok", json.dumps(valid).encode()),
            ("inb-bad", json.dumps(invalid).encode()),
            ("inb-junk", b"not json"),
            ("inb-ok", json.dumps(valid).encode()),
        ],
    )

    # The four records lie on three partitions (by key) and may come in separate batches, so the
    # dead letters showing says nothing about the valid record. Ingest commits a batch's offsets
    # only after publishing it: once its group has committed all of winback.inbound, both the
    # forwarding and the dead-lettering (and the repeat's de-duplication) are done.
    async def inbound_lag() -> int:
        return sum(p.lag for p in await group_progress(kafka_bootstrap, CONTRACT.group, "winback.inbound"))

    await eventually(inbound_lag, lambda lag: lag == 0)
    parked = await read_records(kafka_bootstrap, "winback.events.dlq", idle_s=0.3)
    forwarded = [e for e in await read_topic(kafka_bootstrap, "winback.events", idle_s=0.5) if e["id"] == valid["id"]]
    assert len(forwarded) == 1
    assert sorted(r.key for r in parked) == [b"inb-bad", b"inb-junk"]
    errors = {r.key: json.loads(dict(r.headers)["x-winback-error"]) for r in parked}
    assert errors[b"inb-bad"][0]["field"] == "data.amount"
    assert "not JSON" in errors[b"inb-junk"][0]["message"]
