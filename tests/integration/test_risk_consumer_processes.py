"""One risk instance consuming with several processes (WINBACK_CONSUMER_PROCESSES): all events
applied once, progress over every process, a dead process replaced, none left behind on stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from winback_cli.servers import free_port
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
PROCESSES = 3


def children_of(pid: int) -> set[int]:
    """Pids whose parent is `pid` (read from /proc)."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def consumer_children(pid: int) -> set[int]:
    """The instance's consumer processes (multiprocessing's resource tracker is a child too)."""
    result = set()
    for child in children_of(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            result.add(child)
    return result


@pytest.fixture(scope="module")
def risk(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    spec = ServiceSpec("risk", 8002)
    port = free_port()
    extra = {"WINBACK_ENV": "test", "WINBACK_CONSUMER_PROCESSES": str(PROCESSES)}
    env = service_env(bootstrap=kafka_bootstrap, database_url=database_url, port=port, extra=extra)
    migrate(spec, env)
    service = ServiceProcess(spec, port, env, log_path=tmp_path_factory.mktemp("risk") / "risk.log")
    service.start()
    try:
        service.wait_ready(60)
        yield service
    finally:
        service.stop()


def orders(customers: int, per_customer: int, run: str) -> list[dict[str, Any]]:
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/test/shop",
            "type": "order.placed",
            "time": (T0 + timedelta(days=7 * n, minutes=c)).isoformat(),
            "data": {"customer_id": f"{run}-{c:03d}", "order_id": f"o-{n}", "amount": "20.00"},
        }
        for n in range(per_customer)
        for c in range(customers)
    ]


async def produce(bootstrap: str, events: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            key = event["data"]["customer_id"].encode()
            await producer.send(Topic.EVENTS.value, json.dumps(event).encode(), key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def progress(url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The instance's progress once every process's lag is known (503 until then)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=10) as api:
        while True:
            response = await api.get("/v1/progress")
            if response.status_code != 503 or asyncio.get_running_loop().time() > deadline:
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body
            await asyncio.sleep(0.2)


async def applied(database_url: str, run: str, expected: tuple[int, int], timeout_s: float = 60.0) -> None:
    """Wait until the database holds the run's customers and orders, exactly as many as sent."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    found = (0, 0)
    while asyncio.get_running_loop().time() < deadline:
        found = await stored(database_url, run)
        if found == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{run}: stored {found}, expected {expected}")


async def stored(database_url: str, run: str) -> tuple[int, int]:
    """(customers, orders) of the run as the database holds them."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS customers, coalesce(sum(orders), 0) AS orders FROM risk.customers "
            "WHERE customer_id LIKE $1",
            f"{run}-%",
        )
    finally:
        await conn.close()
    return int(row["customers"]), int(row["orders"])


async def test_every_process_consumes_and_a_dead_one_is_replaced(
    risk: ServiceProcess, kafka_bootstrap: str, database_url: str
) -> None:
    assert risk.proc is not None
    workers = consumer_children(risk.proc.pid)
    assert len(workers) == PROCESSES - 1

    first = orders(40, 3, "mp1")
    await produce(kafka_bootstrap, first)
    await applied(database_url, "mp1", (40, 120))
    # The lag sums every process's consumers: known only once all have reported.
    body = await progress(risk.url)
    assert body["lag"] == 0 and datetime.fromisoformat(body["highest_event_time"]) == max(
        datetime.fromisoformat(e["time"]) for e in first
    )

    # A crash of one consumer process: the instance starts another, and its partitions move on.
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    second = orders(40, 2, "mp2")
    await produce(kafka_bootstrap, second)
    await applied(database_url, "mp2", (40, 80), timeout_s=90)
    # The replacement is started within seconds of the death, but the others may have taken over
    # the victim's partitions and applied the second run before it: wait for it, not for the run.
    replaced = await asyncio.to_thread(replacement_of, risk.proc.pid, victim)
    assert victim not in replaced and len(replaced) == PROCESSES - 1, replaced
    # The killed process's uncommitted records went to another member: whatever was redelivered
    # was applied once (the inbox), the first run's totals are unchanged.
    assert await stored(database_url, "mp1") == (40, 120)

    # Stopping the instance (SIGTERM) stops its consumer processes too.
    risk.stop()
    assert await asyncio.to_thread(gone, replaced)


def replacement_of(pid: int, victim: int, timeout_s: float = 30.0) -> set[int]:
    """The instance's consumer processes once the victim has been replaced (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        children = consumer_children(pid)
        if (victim not in children and len(children) == PROCESSES - 1) or time.monotonic() > deadline:
            return children
        time.sleep(0.1)


def gone(pids: set[int], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
