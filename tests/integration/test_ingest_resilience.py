"""Ingest when the broker goes away mid-requests, and two replicas sharing one database."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.events import cancellation
from tests.support.kafka import read_topic
from tests.support.polling import eventually
from tests.support.services import FAST_CONSUMERS
from winback_cli.servers import TansuBroker, free_port
from winback_cli.stack import SERVICES, ServiceProcess, migrate, service_env
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics

pytestmark = pytest.mark.integration

BATCH = {"Authorization": "Bearer dev-ingest-key", "Content-Type": "application/cloudevents-batch+json"}
INGEST_SPEC = next(s for s in SERVICES if s.name == "ingest")
# Short timeouts keep the outage part of the test quick; the behaviour does not depend on them.
FAST_FAILURE = {**FAST_CONSUMERS, "WINBACK_PUBLISH_TIMEOUT_S": "2", "WINBACK_RETRY_AFTER_S": "1"}


def _start_ingest(bootstrap: str, database_url: str, log_path: Path) -> ServiceProcess:
    port = free_port()
    env = service_env(bootstrap=bootstrap, database_url=database_url, port=port, extra=FAST_FAILURE)
    migrate(INGEST_SPEC, env)
    process = ServiceProcess(INGEST_SPEC, port, env, log_path=log_path)
    process.start()
    return process


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A broker of this module's own: the outage test stops and restarts it."""
    tansu = TansuBroker(free_port(), log_path=tmp_path_factory.mktemp("tansu") / "tansu.log")
    tansu.start()
    asyncio.run(ensure_topics(tansu.bootstrap, ALL_TOPICS))
    try:
        yield tansu
    finally:
        tansu.stop()


@pytest.fixture(scope="module")
def replicas(broker: TansuBroker, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two ingest processes on one database and one broker."""
    logs = tmp_path_factory.mktemp("logs")
    processes = [_start_ingest(broker.bootstrap, database_url, logs / f"ingest-{i}.log") for i in range(2)]
    try:
        for process in processes:
            process.wait_ready()
        yield [p.url for p in processes]
    finally:
        for process in processes:
            process.stop()


async def _metric(client: httpx.AsyncClient, url: str, name: str) -> float:
    text = (await client.get(f"{url}/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def test_two_replicas_publish_each_event_once(replicas: list[str], broker: TansuBroker):
    events = [cancellation(f"rep-{i}") for i in range(300)]
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    async with httpx.AsyncClient(timeout=30) as client:
        before = [await _metric(client, url, "winback_ingest_duplicates_total") for url in replicas]
        # Every batch goes to both replicas twice at the same moment: four identical requests race.
        posts = [
            client.post(f"{url}/v1/events", content=json.dumps(batch), headers=BATCH)
            for batch in batches
            for url in (*replicas, *replicas)
        ]
        responses = await asyncio.gather(*posts)
        after = [await _metric(client, url, "winback_ingest_duplicates_total") for url in replicas]
    assert {r.status_code for r in responses} == {202}
    assert sum(r.json()["accepted"] for r in responses) == len(events)
    assert sum(r.json()["duplicates"] for r in responses) == 3 * len(events)
    assert sum(after) - sum(before) == 3 * len(events)
    ids = {e["id"] for e in events}
    published = Counter(e["id"] for e in await read_topic(broker.bootstrap, "winback.events") if e["id"] in ids)
    assert published == Counter(ids)


async def _post_until_accepted(
    client: httpx.AsyncClient, url: str, batch: list[dict[str, object]], outcomes: dict[str, list[int]]
) -> None:
    """A well-behaved client: retry the same request after Retry-After until the 202."""
    while True:
        try:
            r = await client.post(f"{url}/v1/events", content=json.dumps(batch), headers=BATCH)
        except httpx.TransportError:
            outcomes["transport_errors"].append(0)
            await asyncio.sleep(0.5)
            continue
        outcomes["statuses"].append(r.status_code)
        if r.status_code == 202:
            return
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1
        await asyncio.sleep(float(r.headers["Retry-After"]))


async def test_broker_stopped_mid_requests_every_acknowledged_event_lands_once(
    replicas: list[str], broker: TansuBroker
):
    url = replicas[0]
    batches: list[list[dict[str, object]]] = []
    outcomes: dict[str, list[int]] = {"statuses": [], "transport_errors": []}
    acked_at: dict[int, float] = {}
    loop = asyncio.get_running_loop()
    enough = asyncio.Event()

    async def client_task(client: httpx.AsyncClient) -> None:
        # Keeps sending fresh batches until told to stop, so requests are in flight at the outage.
        while not enough.is_set():
            number = len(batches)
            batches.append([cancellation(f"out-{number}-{i}") for i in range(20)])
            await _post_until_accepted(client, url, batches[number], outcomes)
            acked_at[number] = loop.time()

    async with httpx.AsyncClient(timeout=60) as client:
        clients = [asyncio.create_task(client_task(client)) for _ in range(4)]
        await eventually(lambda: _count(acked_at), lambda n: n >= 8, interval_s=0.02)
        await asyncio.to_thread(broker.stop)
        ready = await eventually(lambda: client.get(f"{url}/readyz"), lambda r: r.status_code == 503)
        assert ready.json()["checks"]["broker"] is False
        await eventually(lambda: _count(outcomes["statuses"]), lambda _: 503 in outcomes["statuses"])
        restarted_at = loop.time()
        # Tansu keeps topics in memory: the restarted broker starts empty, as after a disaster.
        await asyncio.to_thread(broker.start)
        await ensure_topics(broker.bootstrap, ALL_TOPICS)
        acked_before = len(acked_at)
        await eventually(lambda: _count(acked_at), lambda n: n >= acked_before + 8, timeout_s=60)
        enough.set()
        await asyncio.gather(*clients)
        assert (await client.get(f"{url}/readyz")).status_code == 200

    after_restart = {e["id"] for n, t in acked_at.items() if t > restarted_at for e in batches[n]}
    before_stop = {e["id"] for n, t in acked_at.items() if t <= restarted_at for e in batches[n]}
    assert after_restart and before_stop
    on_topic = Counter(e["id"] for e in await read_topic(broker.bootstrap, "winback.events"))
    # Acknowledged after the restart: exactly once, although earlier attempts failed mid-publish.
    assert {i: on_topic[i] for i in after_restart} == dict.fromkeys(after_restart, 1)
    # Acknowledged before the stop (and lost with the in-memory broker): never published again.
    assert not before_stop & on_topic.keys()


async def _count(items: object) -> int:
    return len(items)  # type: ignore[arg-type]
