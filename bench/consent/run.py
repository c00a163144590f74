"""Consent benchmark: single decisions at a fixed rate (p50/p99) and the batch form (decisions/s).

Starts an embedded PostgreSQL, a Tansu broker and the consent service on free ports, loads
customers through the service's own consumer handler (`apply_events`), then measures:
  (a) POST /v1/decisions at --rate requests/s for --seconds, open loop (latency counted from the
      scheduled send time, so a stall is not hidden), and GET /healthz the same way as baseline;
  (b) POST /v1/decisions:batch with 1,000 items, decisions/s, against the pure domain function.

    python bench/consent/run.py [--customers 10000] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from winback_cli.servers import EmbeddedPostgres, TansuBroker, free_port, prepare_dir_for_system_user
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_consent.domain.decisions import decide
from winback_consent.domain.model import CustomerSnapshot, DecisionRequest, Policy
from winback_consent.service_layer.consume import apply_events
from winback_consent.settings import DEV_HASH_KEY
from winback_shared.clock import SystemClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ConsentGranted, ContactObjected, CustomerUpserted, OrderPlaced
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics

OPS = {"Authorization": "Bearer bench-ops"}
CHANNELS = ("email", "phone", "sms", "post")
T0 = datetime.now(UTC) - timedelta(days=60)


def customer_events(n: int) -> list[CloudEvent]:
    """Per customer: a profile, an e-mail DOI consent, an order; every 10th objects to e-mail."""
    events: list[CloudEvent] = []
    for i in range(n):
        cid = f"bench-{i}"
        events.append(
            CustomerUpserted.new(
                source="/bench",
                time=T0,
                data={"customer_id": cid, "email": f"c{i}@example.org", "phone": f"0170 {i:07d}"},
            )
        )
        evidence = {"confirmed_at": (T0 + timedelta(minutes=5)).isoformat(), "text_version": "v1"}
        events.append(
            ConsentGranted.new(
                source="/bench",
                time=T0 + timedelta(minutes=1),
                data={
                    "customer_id": cid,
                    "channel": "email",
                    "kind": "express",
                    "method": "double_opt_in",
                    "evidence": evidence,
                },
            )
        )
        order = {"customer_id": cid, "order_id": f"o{i}", "amount": "10", "category": "shoes"}
        events.append(OrderPlaced.new(source="/bench", time=T0 + timedelta(days=1), data=order))
        if i % 10 == 0:
            objection = {"customer_id": cid, "channels": ["email"]}
            events.append(ContactObjected.new(source="/bench", time=T0 + timedelta(days=2), data=objection))
    return events


async def load(database_url: str, n: int) -> float:
    engine = create_engine(database_url, pool_size=2)
    sessions = create_sessionmaker(engine)
    events = customer_events(n)
    started = time.perf_counter()
    for start in range(0, len(events), 500):
        await apply_events(sessions, SystemClock(), events[start : start + 500], DEV_HASH_KEY.encode())
    await engine.dispose()
    return time.perf_counter() - started


def body(n: int, rng: random.Random) -> dict[str, Any]:
    return {"customer_id": f"bench-{rng.randrange(n)}", "channel": rng.choice(CHANNELS)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: the service's cost, whatever else runs on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the load generator must cost far less than the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def request(self, method: str, path: str, payload: Any = None) -> tuple[int, bytes]:
        body = b"" if payload is None else json.dumps(payload).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {OPS['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def fixed_rate(
    url: str, method: str, path: str, make: Any, rate: float, seconds: float, connections: int = 32
) -> dict[str, float]:
    """Open loop: request i is due at start + i/rate; latency counts from that moment."""
    host, port = url.removeprefix("http://").split(":")
    pool = [await Connection.open(host, int(port)) for _ in range(connections)]
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker(conn: Connection) -> None:
        nonlocal errors
        while (due := await queue.get()) is not None:
            status, _ = await conn.request(method, path, make())
            latencies.append(time.perf_counter() - due)
            errors += status != 200

    workers = [asyncio.create_task(worker(c)) for c in pool]
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    for c in pool:
        c.close()
    latencies.sort()
    return {
        "requests": total,
        "errors": errors,
        "achieved_rps": total / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
        "max_ms": 1000 * latencies[-1],
    }


async def batches(url: str, n: int, rounds: int, rng: random.Random) -> dict[str, float]:
    """One batch after the other on one connection: decisions/s of one instance."""
    payloads = [{"items": [body(n, rng) for _ in range(1_000)]} for _ in range(rounds)]
    host, port = url.removeprefix("http://").split(":")
    conn = await Connection.open(host, int(port))
    times: list[float] = []
    for payload in payloads:
        t = time.perf_counter()
        status, answer = await conn.request("POST", "/v1/decisions:batch", payload)
        times.append(time.perf_counter() - t)
        assert status == 200, answer
        assert len(json.loads(answer)["items"]) == 1_000
    conn.close()
    return {
        "batches": rounds,
        "median_batch_ms": 1000 * statistics.median(times),
        "decisions_per_s": 1_000 * rounds / sum(times),
    }


def domain_rate(rng: random.Random) -> float:
    """The pure decision function on a snapshot like the loaded ones: the floor no service can beat."""
    from winback_consent.domain.model import LedgerFact

    grant = LedgerFact(
        "g1",
        1,
        "grant",
        T0,
        {"channel": "email", "kind": "express", "method": "double_opt_in", "evidence": {"confirmed_at": "x"}},
    )
    snapshot = CustomerSnapshot("c", True, entries=(grant,), categories={"shoes": T0}, order_times=(T0,))
    now = datetime.now(UTC)
    requests = [DecisionRequest("c", rng.choice(CHANNELS), now) for _ in range(20_000)]
    policy = Policy()
    t = time.perf_counter()
    for r in requests:
        decide(snapshot, r, policy)
    return len(requests) / (time.perf_counter() - t)


async def measure(url: str, pid: int, n: int, rate: float, seconds: float) -> dict[str, Any]:
    rng = random.Random(7)
    # Warm up connections, caches and the statement cache of every pool connection.
    await fixed_rate(url, "POST", "/v1/decisions", lambda: body(n, rng), 200, 3)
    await batches(url, n, 3, rng)
    print("warmed up", file=sys.stderr)
    cpu = cpu_seconds(pid)
    health = await fixed_rate(url, "GET", "/healthz", lambda: None, rate, seconds)
    cpu, health["service_cpu_ms_per_request"] = cpu_seconds(pid), 1000 * (cpu_seconds(pid) - cpu) / health["requests"]
    print(f"healthz: {health}", file=sys.stderr)
    single = await fixed_rate(url, "POST", "/v1/decisions", lambda: body(n, rng), rate, seconds)
    cpu, single["service_cpu_ms_per_request"] = cpu_seconds(pid), 1000 * (cpu_seconds(pid) - cpu) / single["requests"]
    print(f"single: {single}", file=sys.stderr)
    batch = await batches(url, n, 30, rng)
    batch["service_cpu_ms_per_decision"] = 1000 * (cpu_seconds(pid) - cpu) / (1_000 * batch["batches"])
    print(f"batch: {batch}", file=sys.stderr)
    domain = domain_rate(rng)
    return {
        "healthz": health,
        "single": single,
        "batch": batch,
        "domain_decisions_per_s": domain,
        "ratios": {
            "single_p99_over_healthz_p99": single["p99_ms"] / health["p99_ms"],
            "single_p50_over_healthz_p50": single["p50_ms"] / health["p50_ms"],
            "batch_over_domain_rate": batch["decisions_per_s"] / domain,
            "single_cpu_over_healthz_cpu": single["service_cpu_ms_per_request"] / health["service_cpu_ms_per_request"],
        },
    }


def main() -> None:
    # A TERM (e.g. from `timeout`) must still stop the servers this script started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="consent-bench-") as tmp:
        tmp_dir = Path(tmp)
        tmp_dir.chmod(0o755)  # the PostgreSQL system user must reach its data directory
        pg = EmbeddedPostgres(prepare_dir_for_system_user(tmp_dir / "pg"), free_port(), throwaway=True)
        broker = TansuBroker(free_port())
        service: ServiceProcess | None = None
        pg.start()
        broker.start()
        try:
            pg.create_database("consent_bench")
            database_url = pg.url_for("consent_bench")
            asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS))
            spec = ServiceSpec("consent", free_port())
            env = service_env(
                bootstrap=broker.bootstrap,
                database_url=database_url,
                port=spec.port,
                extra={"WINBACK_API_KEYS": "bench-ops:ops", "WINBACK_LOG_LEVEL": "WARNING"},
            )
            migrate(spec, env)
            print(f"loading {args.customers} customers", file=sys.stderr)
            load_s = asyncio.run(load(database_url, args.customers))
            print(f"loaded in {load_s:.1f} s; measuring", file=sys.stderr)
            service = ServiceProcess(spec, spec.port, env, log_path=Path(tmp) / "consent.log")
            service.start()
            service.wait_ready()
            assert service.proc is not None
            result = asyncio.run(measure(service.url, service.proc.pid, args.customers, args.rate, args.seconds))
            result["load"] = {"customers": args.customers, "seconds": load_s}
            print(json.dumps(result, indent=2))
        finally:
            if service is not None:
                service.stop()
            broker.stop()
            pg.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
