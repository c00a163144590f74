"""Consent benchmark: single decisions at a fixed rate (p50/p99) and the batch form (decisions/s).

Starts an embedded PostgreSQL, a Tansu broker and the consent service on free ports, loads
customers through the service's own consumer handler (`apply_events`), then measures:
  (a) POST /v1/decisions at --rate requests/s for --seconds, open loop (latency counted from the
      scheduled send time, so a stall is not hidden), and GET /healthz the same way as baseline;
  (b) POST /v1/decisions:batch with 1,000 items, decisions/s, against the pure domain function.

    python bench/consent/run.py [--customers 10000] [--rate 500] [--seconds 20] [--workers 1]
        [--batches 30] [--batch-connections 1] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import pstats
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

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


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (uvicorn workers, PostgreSQL backends)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                total += tree_cpu_seconds(int(child))
    return total


def cpu_pressure_us() -> float:
    """Total time some runnable task waited for a CPU (PSI), 0 where the kernel does not report it."""
    try:
        return float(Path("/proc/pressure/cpu").read_text().split("total=", 1)[1].split()[0])
    except (OSError, IndexError):
        return 0.0


def machine_busy_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, wall seconds) from /proc/stat and the clock."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK"), time.monotonic()


class Meter:
    """CPU used during one phase by the service, PostgreSQL, this client and the machine as a whole."""

    def __init__(self, service_pid: int, pg_pid: int) -> None:
        self.service_pid, self.pg_pid = service_pid, pg_pid
        self.start = self._read()

    def _read(self) -> tuple[float, float, float, tuple[float, float], float]:
        return (
            tree_cpu_seconds(self.service_pid),
            tree_cpu_seconds(self.pg_pid),
            time.process_time(),
            machine_busy_seconds(),
            cpu_pressure_us(),
        )

    def per(self, count: int, unit: str) -> dict[str, float]:
        (s0, p0, c0, (m0, w0), q0), (s1, p1, c1, (m1, w1), q1) = self.start, self._read()
        return {
            f"service_cpu_ms_per_{unit}": round(1000 * (s1 - s0) / count, 4),
            f"postgres_cpu_ms_per_{unit}": round(1000 * (p1 - p0) / count, 4),
            f"client_cpu_ms_per_{unit}": round(1000 * (c1 - c0) / count, 4),
            "machine_busy_cores": round((m1 - m0) / (w1 - w0), 2),
            # Share of the phase in which some runnable task waited for a CPU (Linux PSI "some").
            "cpu_wait_pct": round(100 * (q1 - q0) / 1e6 / (w1 - w0), 1),
        }


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the load generator must cost far less than the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    @staticmethod
    def encode(method: str, path: str, payload: Any = None) -> bytes:
        """The request's bytes, built before the measured phase."""
        body = b"" if payload is None else json.dumps(payload).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {OPS['Authorization']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        start = head.lower().index(b"content-length:") + 15
        length = int(head[start : head.index(b"\r\n", start)])
        return int(head[9:12]), await self.reader.readexactly(length)

    async def request(self, method: str, path: str, payload: Any = None) -> tuple[int, bytes]:
        return await self.send(self.encode(method, path, payload))

    def close(self) -> None:
        self.writer.close()


async def fixed_rate(
    url: str, requests: list[bytes], rate: float, connections: int = 32, slow: list[tuple[float, float]] | None = None
) -> dict[str, float]:
    """Open loop: request i is due at start + i/rate; latency counts from that moment.

    `slow` collects (due time, latency) of requests over 10 ms, to match them with the service's stalls.
    """
    host, port = url.removeprefix("http://").split(":")
    pool = [await Connection.open(host, int(port)) for _ in range(connections)]
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker(conn: Connection) -> None:
        nonlocal errors
        while (item := await queue.get()) is not None:
            due, raw = item
            status, _ = await conn.send(raw)
            latencies.append(latency := time.perf_counter() - due)
            if slow is not None and latency > 0.010:
                slow.append((due, latency))
            errors += status != 200

    workers = [asyncio.create_task(worker(c)) for c in pool]
    start = time.perf_counter() + 0.05
    for i, raw in enumerate(requests):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        queue.put_nowait((due, raw))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    for c in pool:
        c.close()
    latencies.sort()
    return {
        "requests": len(requests),
        "errors": errors,
        "achieved_rps": round(len(requests) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(1000 * latencies[-1], 2),
    }


async def batches(url: str, n: int, rounds: int, rng: random.Random, connections: int = 1) -> dict[str, float]:
    """Batches of 1,000 back to back on `connections` connections: decisions/s of one instance."""
    path = "/v1/decisions:batch"
    payloads = [Connection.encode("POST", path, {"items": [body(n, rng) for _ in range(1_000)]}) for _ in range(rounds)]
    host, port = url.removeprefix("http://").split(":")
    conns = [await Connection.open(host, int(port)) for _ in range(connections)]
    times: list[float] = []

    async def run(conn: Connection, mine: list[bytes]) -> None:
        for raw in mine:
            t = time.perf_counter()
            status, answer = await conn.send(raw)
            times.append(time.perf_counter() - t)
            assert status == 200, answer
            assert answer.count(b'"allowed"') == 1_000

    started = time.perf_counter()
    await asyncio.gather(*(run(c, payloads[i::connections]) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return {
        "batches": rounds,
        "connections": connections,
        "median_batch_ms": round(1000 * statistics.median(times), 2),
        "decisions_per_s": round(1_000 * rounds / elapsed),
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


async def measure(url: str, pid: int, pg_pid: int, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    n, rate, seconds = args.customers, args.rate, args.seconds
    settled = await settle(database_url) if args.settle else {}
    print(f"settled: {settled}", file=sys.stderr)
    rng = random.Random(7)
    total = int(rate * seconds)
    decisions = [Connection.encode("POST", "/v1/decisions", body(n, rng)) for _ in range(total)]
    health = [Connection.encode("GET", "/healthz")] * total
    # Warm up connections, caches and the statement cache of every pool connection.
    await fixed_rate(url, decisions[: (200 * 3)], 200)
    await batches(url, n, 3, rng)
    print("warmed up", file=sys.stderr)
    meter = Meter(pid, pg_pid)
    healthz = await fixed_rate(url, health, rate)
    healthz |= meter.per(total, "request")
    print(f"healthz: {healthz}", file=sys.stderr)
    meter = Meter(pid, pg_pid)
    slow: list[tuple[float, float]] = []
    window = time.monotonic()
    housekeeping = await pg_housekeeping(database_url)
    single = await fixed_rate(url, decisions, rate, slow=slow)
    single |= meter.per(total, "request")
    after = await pg_housekeeping(database_url)
    single["pg_housekeeping_during"] = {k: after[k] - housekeeping[k] for k in after}  # type: ignore[assignment]
    print(f"single: {single}", file=sys.stderr)
    if args.probe is not None:
        report_stalls(args.probe, (window, time.monotonic()), slow)
    meter = Meter(pid, pg_pid)
    batch = await batches(url, n, args.batches, rng, args.batch_connections)
    batch |= meter.per(1_000 * args.batches, "decision")
    print(f"batch: {batch}", file=sys.stderr)
    domain = domain_rate(rng)
    return {
        "healthz": healthz,
        "single": single,
        "batch": batch,
        "domain_decisions_per_s": round(domain),
        "settled": settled,
        "ratios": {
            "single_p99_over_healthz_p99": round(single["p99_ms"] / healthz["p99_ms"], 2),
            "single_p50_over_healthz_p50": round(single["p50_ms"] / healthz["p50_ms"], 2),
            "batch_over_domain_rate": round(batch["decisions_per_s"] / domain, 3),
            "single_cpu_over_healthz_cpu": round(
                single["service_cpu_ms_per_request"] / healthz["service_cpu_ms_per_request"], 2
            ),
        },
    }


def dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


async def settle(database_url: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait for the load's side work (the relay draining the outbox), then vacuum and checkpoint.

    Otherwise the relay publishing ~11,000 consent.changed events, autovacuum of the freshly
    written tables or a checkpoint can compete with the measured phases.
    """
    conn = await asyncpg.connect(dsn(database_url))
    try:
        started = time.monotonic()
        backlog = await conn.fetchval("SELECT count(*) FROM consent.outbox")
        left = backlog
        for _ in range(int(timeout_s / 0.5)):
            if not (left := await conn.fetchval("SELECT count(*) FROM consent.outbox")):
                break
            await asyncio.sleep(0.5)
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute("CHECKPOINT")
        return {"outbox_backlog": backlog, "outbox_left": left, "settle_s": round(time.monotonic() - started, 1)}
    finally:
        await conn.close()


async def pg_housekeeping(database_url: str) -> dict[str, int]:
    """Counters of PostgreSQL work that can stall queries: autovacuum/autoanalyze runs and checkpoints."""
    conn = await asyncpg.connect(dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT sum(autovacuum_count)::int AS autovacuum, sum(autoanalyze_count)::int AS autoanalyze,"
            " (SELECT (num_timed + num_requested)::int FROM pg_stat_checkpointer) AS checkpoints"
            " FROM pg_stat_user_tables"
        )
        return dict(row)
    finally:
        await conn.close()


CLIENT_GC: list[tuple[float, float]] = []  # (monotonic end, ms) of this client's own collections


def probe_client_gc() -> None:
    """The client's own collections can delay sends and reads too: record them."""
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif (ms := 1000 * (time.perf_counter() - started[0])) >= 1:
            CLIENT_GC.append((time.perf_counter(), ms))

    gc.callbacks.append(on_gc)


def report_stalls(probe: Path, window: tuple[float, float], slow: list[tuple[float, float]]) -> None:
    """The service's collections and loop lags during a phase, next to the client's slow requests."""
    events = []
    for line in probe.read_text().splitlines():
        at, kind, ms, detail = line.split("\t")
        if window[0] <= float(at) <= window[1]:
            events.append((float(at), kind, float(ms), detail))
    for kind in ("gc", "lag"):
        mine = [e[2] for e in events if e[1] == kind]
        print(
            f"{kind}: {len(mine)} events, total {sum(mine):.0f} ms, max {max(mine, default=0):.1f} ms", file=sys.stderr
        )
    for gen in range(3):
        mine = [e[2] for e in events if e[1] == "gc" and e[3].startswith(f"gen={gen}")]
        print(f"  gen {gen}: {len(mine)} >= 1 ms, max {max(mine, default=0):.1f} ms", file=sys.stderr)
    print(f"slow requests (> 10 ms): {len(slow)}", file=sys.stderr)
    client_gc = [(at, ms) for at, ms in CLIENT_GC if window[0] <= at <= window[1]]
    print(
        f"client gc >= 1 ms: {len(client_gc)}, max {max((m for _, m in client_gc), default=0):.1f} ms", file=sys.stderr
    )
    for due, latency in sorted(slow, key=lambda s: -s[1])[:5]:
        near = [f"{e[1]} {e[2]:.1f} ms {e[3]} at {e[0] - due:+.3f} s" for e in events if -0.05 < e[0] - due < 0.3]
        near += [f"client gc {ms:.1f} ms at {at - due:+.3f} s" for at, ms in client_gc if -0.05 < at - due < 0.3]
        print(f"  worst at {due - window[0]:.2f} s: {1000 * latency:.0f} ms; {near[:6]}", file=sys.stderr)
    # Each stall: the first slow request of a cluster and the probe events around it.
    last = -1.0
    for due, latency in sorted(slow):
        if due - last > 0.5:
            near = [f"{e[1]} {e[2]:.1f} ms {e[3]} at {e[0] - due:+.3f} s" for e in events if abs(e[0] - due) < 0.5]
            print(f"  stall at {due - window[0]:.2f} s: {1000 * latency:.0f} ms; {near[:6]}", file=sys.stderr)
        last = due


class ProfiledService(ServiceProcess):
    """The service process, optionally under cProfile (stats are written on graceful stop)."""

    def __init__(self, *args: Any, profile: Path | None = None, probe: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile, self.probe = profile, probe

    def start(self, *, detach: bool = False) -> None:
        if self.profile is None and self.probe is None:
            super().start(detach=detach)
            return
        out = open(self.log_path or os.devnull, "ab")  # noqa: SIM115
        if self.probe is not None:
            command = [sys.executable, str(Path(__file__).parent / "probe_service.py"), str(self.probe)]
        else:
            profiler = Path(__file__).parent.parent / "profile_service.py"
            command = [sys.executable, str(profiler), "consent", str(self.profile)]
        self.proc = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    # A TERM (e.g. from `timeout`) must still stop the servers this script started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (WINBACK_WORKERS)")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-connections", type=int, default=1, help="batches in flight at once")
    parser.add_argument("--profile", type=Path, help="run the service under cProfile, write its stats here")
    parser.add_argument(
        "--no-settle", dest="settle", action="store_false", help="measure without draining the outbox and vacuuming"
    )
    parser.add_argument("--probe", type=Path, help="log the service's GC pauses and loop lags here, report stalls")
    args = parser.parse_args()
    load_before = os.getloadavg()
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
                extra={
                    "WINBACK_API_KEYS": "bench-ops:ops",
                    "WINBACK_LOG_LEVEL": "WARNING",
                    "WINBACK_WORKERS": str(args.workers),
                },
            )
            migrate(spec, env)
            print(f"loading {args.customers} customers", file=sys.stderr)
            load_s = asyncio.run(load(database_url, args.customers))
            print(f"loaded in {load_s:.1f} s; measuring", file=sys.stderr)
            service = ProfiledService(
                spec, spec.port, env, log_path=tmp_dir / "consent.log", profile=args.profile, probe=args.probe
            )
            service.start()
            service.wait_ready()
            assert service.proc is not None
            pg_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
            load_measuring = os.getloadavg()
            if args.probe is not None:
                probe_client_gc()
            # The client runs on uvloop too: it shares the machine's two cores with the service.
            result = uvloop.run(measure(service.url, service.proc.pid, pg_pid, database_url, args))
            result["conditions"] = {
                "customers": args.customers,
                "rate": args.rate,
                "seconds": args.seconds,
                "workers": args.workers,
                "load_seconds": round(load_s, 1),
                "loadavg_before_start": load_before,
                "loadavg_before_measuring": load_measuring,
                "loadavg_after": os.getloadavg(),
            }
            print(json.dumps(result, indent=2))
        finally:
            if service is not None:
                service.stop()
            if args.profile is not None and args.profile.exists():
                pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)
            broker.stop()
            pg.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
