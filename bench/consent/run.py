"""Consent benchmark: `dispatch: true` batches of 1,000 as campaign sends them, and single decisions at a fixed rate.

    python -m bench.consent.run [--quick] [--non-durable] [--customers N] [--rate 500] [--seconds 20]
                                [--batches 30] [--batch-connections 1] [--workers 1] [--probe FILE] [--no-settle]

The service as `make up` starts it (bench/harness.py); customers loaded through its own consumer
handler (`apply_events`): per customer a profile with e-mail and phone, an express e-mail consent
(DOI), an order, every 10th an e-mail objection. Once the service runs and its relay has published
the load's outbox, `VACUUM (ANALYZE)` and `CHECKPOINT` (`--no-settle` skips this). Then:

- **batch**: `POST /v1/decisions:batch`, 1,000 items of 1,000 distinct customers, `channel: email`,
  `dispatch: true` and a `request_id` each, exactly as campaign's scheduler sends them (every ALLOW
  is a `use` written to the customer's ledger and committed), back to back on --batch-connections
  (batches in flight at once share no customer, as two campaign instances' rounds do not);
  baseline: the service's own snapshot statement for the same 1,000 ids, prepared, on one asyncpg
  connection (the database's round trip for the read every decision needs), batches/s x 1,000;
- **single**: `POST /v1/decisions` (no dispatch) for a random customer and channel, open loop at
  --rate requests/s for --seconds over 32 keep-alive connections, latency counted from each
  request's scheduled send time (no coordinated omission); baseline: the same prepared statement
  for one customer at the same rate, the same way, over a pool of asyncpg connections; p99 of both;
- **healthz** (diagnostic): `GET /healthz` at the same rate, the HTTP stack alone.

The client is a bare HTTP/1.1 client on uvloop with every request's bytes built before the phase.
Each phase also reports the CPU per request of the service, PostgreSQL and the client, and the
share of the phase some runnable task waited for a CPU (Linux PSI, `cpu_wait_pct`).
`--probe FILE` runs the service through bench/consent/probe_service.py (GC pauses and loop lags).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from bench import harness
from winback_consent.adapters.snapshot_reads import SNAPSHOT_SQL
from winback_consent.service_layer.consume import apply_events
from winback_consent.settings import DEV_HASH_KEY
from winback_shared.clock import SystemClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ConsentGranted, ContactObjected, CustomerUpserted, OrderPlaced

OPS = {"Authorization": f"Bearer {harness.API_KEY}"}
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


async def load_events(
    database_url: str, events: list[CloudEvent], batch: int = 1_000, *, concurrency: int = 1
) -> float:
    """Apply events through consent's own consumer handler, as its consumer would; returns seconds.

    `concurrency` > 1 applies that many contiguous slices at once, each batch in its own transaction
    (setup only: the handler's Python overlaps PostgreSQL's work). A customer split between two
    slices is still applied correctly: every batch locks its customers' chain heads in id order.
    """
    engine = create_engine(database_url, pool_size=max(2, concurrency))
    sessions = create_sessionmaker(engine)
    started = time.perf_counter()
    per_slice = -(-len(events) // max(1, concurrency))

    async def apply_slice(part: list[CloudEvent]) -> None:
        for start in range(0, len(part), batch):
            await apply_events(sessions, SystemClock(), part[start : start + batch], DEV_HASH_KEY.encode())

    await asyncio.gather(*(apply_slice(events[i : i + per_slice]) for i in range(0, len(events), per_slice or 1)))
    await engine.dispose()
    return time.perf_counter() - started


def body(n: int, rng: random.Random) -> dict[str, Any]:
    return {"customer_id": f"bench-{rng.randrange(n)}", "channel": rng.choice(CHANNELS)}


def dispatch_batches(n: int, rounds: int, rng: random.Random, in_flight: int = 1) -> list[list[int]]:
    """The customers of each batch: 1,000 distinct ones, as a scheduler round has.

    With several batches in flight (several campaign instances), batches sent at the same time share
    no customer, as their rounds do not: each instance claims its due steps with their enrolments
    locked (SKIP LOCKED), so two rounds hold different enrolments, and a customer rarely has two steps
    due at once. Drawn at random from the whole base instead, two concurrent batches of 1,000 out of
    10,000 customers share ~100, and the second waits at the first shared customer's chain head
    until the first commits: measured, that serialised them (9,274/s with two in flight against
    8,917/s with one; with disjoint batches 10,081-10,397/s against 8,050-9,317/s).
    """
    return [[in_flight * x + k % in_flight for x in rng.sample(range(n // in_flight), 1_000)] for k in range(rounds)]


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


async def batches(url: str, customers: list[list[int]], connections: int = 1) -> dict[str, float]:
    """`dispatch: true` batches back to back on `connections` connections: decisions/s of one instance."""
    path = "/v1/decisions:batch"
    payloads = [
        Connection.encode(
            "POST",
            path,
            {
                "items": [
                    {"request_id": f"r{b}-{i}", "customer_id": f"bench-{c}", "channel": "email", "dispatch": True}
                    for i, c in enumerate(batch)
                ]
            },
        )
        for b, batch in enumerate(customers)
    ]
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
        "batches": len(payloads),
        "connections": connections,
        "median_batch_ms": round(1000 * statistics.median(times), 2),
        "decisions_per_s": round(1_000 * len(payloads) / elapsed),
    }


async def snapshot_pool(dsn: str, size: int) -> asyncpg.Pool:
    """Connections as the service's read pool opens them: generic plan, the statement prepared once each."""
    return await asyncpg.create_pool(
        dsn, min_size=size, max_size=size, server_settings={"plan_cache_mode": "force_generic_plan"}
    )


async def db_batches(dsn: str, customers: list[list[int]]) -> float:
    """Baseline: the snapshot statement for each batch's 1,000 ids, back to back; ids/s."""
    pool = await snapshot_pool(dsn, 1)
    try:
        ids = [sorted(f"bench-{c}" for c in batch) for batch in customers]
        await pool.fetch(SNAPSHOT_SQL, ids[0])  # prepare
        started = time.perf_counter()
        for batch in ids:
            await pool.fetch(SNAPSHOT_SQL, batch)
        return 1_000 * len(ids) / (time.perf_counter() - started)
    finally:
        await pool.close()


async def db_fixed_rate(dsn: str, ids: Iterable[str], rate: float, connections: int = 8) -> dict[str, float]:
    """Baseline: the snapshot statement for one id per call, open loop at `rate`, latency from the due time."""
    pool = await snapshot_pool(dsn, connections)
    latencies: list[float] = []

    async def one(due: float, customer: str) -> None:
        await pool.fetch(SNAPSHOT_SQL, [customer])
        latencies.append(time.perf_counter() - due)

    try:
        for _ in range(connections):
            await pool.fetch(SNAPSHOT_SQL, ["warm"])
        tasks = []
        start = time.perf_counter() + 0.05
        for i, customer in enumerate(ids):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(due, customer)))
        await asyncio.gather(*tasks)
    finally:
        await pool.close()
    return {
        "p50_ms": round(1000 * harness.percentile(latencies, 0.5), 2),
        "p99_ms": round(1000 * harness.percentile(latencies, 0.99), 2),
        "max_ms": round(1000 * max(latencies), 2),
    }


async def measure(url: str, pid: int, pg_pid: int, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    n, rate, seconds = args.customers, args.rate, args.seconds
    settled = await settle(dsn) if args.settle else {}
    harness.progress(f"settled: {settled}")
    rng = random.Random(7)
    total = int(rate * seconds)
    singles = [body(n, rng) for _ in range(total)]
    decisions = [Connection.encode("POST", "/v1/decisions", b) for b in singles]
    health = [Connection.encode("GET", "/healthz")] * total
    dispatch = dispatch_batches(n, args.batches + 3, rng, args.batch_connections)
    # Warm up connections, caches and the statement cache of every pool connection.
    await fixed_rate(url, decisions[: (200 * 3)], 200)
    await batches(url, dispatch[:3])
    harness.progress("warmed up")
    meter = Meter(pid, pg_pid)
    healthz = await fixed_rate(url, health, rate)
    healthz |= meter.per(total, "request")
    meter = Meter(pid, pg_pid)
    slow: list[tuple[float, float]] = []
    window = time.monotonic()
    housekeeping = await pg_housekeeping(dsn)
    single = await fixed_rate(url, decisions, rate, slow=slow)
    single |= meter.per(total, "request")
    after = await pg_housekeeping(dsn)
    single["pg_housekeeping_during"] = {k: after[k] - housekeeping[k] for k in after}  # type: ignore[assignment]
    harness.progress(f"single: {single}")
    if args.probe is not None:
        report_stalls(args.probe, (window, time.monotonic()), slow)
    single_db = await db_fixed_rate(dsn, (b["customer_id"] for b in singles), rate)
    harness.progress(f"single, database alone: {single_db}")
    meter = Meter(pid, pg_pid)
    batch = await batches(url, dispatch[3:], args.batch_connections)
    batch |= meter.per(1_000 * args.batches, "decision")
    harness.progress(f"batch: {batch}")
    batch_db = await db_batches(dsn, dispatch[3:])
    harness.progress(f"batch, database alone: {batch_db:,.0f} ids/s")
    return {"healthz": healthz, "single": single, "single_db": single_db, "batch": batch, "batch_db": batch_db,
            "settled": settled}  # fmt: skip


async def settle(dsn: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait for the load's side work (the relay draining the outbox), then vacuum and checkpoint.

    Otherwise the relay publishing ~11,000 consent.changed events, autovacuum of the freshly
    written tables or a checkpoint can compete with the measured phases.
    """
    conn = await asyncpg.connect(dsn)
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


async def pg_housekeeping(dsn: str) -> dict[str, int]:
    """Counters of PostgreSQL work that can stall queries: autovacuum/autoanalyze runs and checkpoints."""
    conn = await asyncpg.connect(dsn)
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


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, help="customers loaded (default 10,000; --quick 5,000)")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, help="single-decision phase (default 20; --quick 10)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (WINBACK_WORKERS)")
    parser.add_argument("--batches", type=int, help="dispatch batches of 1,000 (default 30; --quick 10)")
    parser.add_argument("--batch-connections", type=int, default=1, help="batches in flight at once")
    parser.add_argument(
        "--no-settle", dest="settle", action="store_false", help="measure without draining the outbox and vacuuming"
    )
    parser.add_argument("--probe", type=Path, help="log the service's GC pauses and loop lags here, report stalls")
    args = parser.parse_args()
    args.customers = harness.sized(args, "customers", 10_000, 5_000)
    args.seconds = harness.sized(args, "seconds", 20, 10)
    args.batches = harness.sized(args, "batches", 30, 10)
    with harness.Stack(args, "consent") as stack:
        stack.migrate("consent")
        harness.progress(f"loading {args.customers} customers")
        load_s = asyncio.run(load_events(stack.database_url, customer_events(args.customers), 500))
        probe = [sys.executable, str(Path(__file__).parent / "probe_service.py"), str(args.probe)]
        service = stack.start(
            "consent", {"WINBACK_WORKERS": str(args.workers)}, profile=True, command=probe if args.probe else None
        )
        assert service.proc is not None
        pg_pid = int((stack.pg.data_dir / "postmaster.pid").read_text().split()[0])
        if args.probe is not None:
            probe_client_gc()
        # The client runs on uvloop too: it shares the machine's two cores with the service.
        result = uvloop.run(measure(service.url, service.proc.pid, pg_pid, stack.dsn, args))
        conditions = {"customers": args.customers, "workers": args.workers, "load_customers_s": round(load_s, 1)}
        batch, single, single_db = result["batch"], result["single"], result["single_db"]
        stack.emit(
            "consent.dispatch_batch",
            "decisions_per_s",
            batch["decisions_per_s"],
            "decisions/s",
            baseline=result["batch_db"],
            conditions={
                **conditions,
                **batch,
                "baseline_is": "the prepared snapshot statement for the same 1,000 ids per call, ids/s",
                "target": ">= 10,000/s",
            },
        )
        stack.emit(
            "consent.single",
            "p99_ms",
            single["p99_ms"],
            "ms",
            baseline=single_db["p99_ms"],
            conditions={
                **conditions,
                **single,
                "baseline_p50_max_ms": [single_db["p50_ms"], single_db["max_ms"]],
                "healthz": result["healthz"],
                "baseline_is": f"the prepared snapshot statement for one id at {args.rate:g}/s, open loop, p99",
                "target": "p99 < 10 ms on an unloaded machine",
            },
        )


if __name__ == "__main__":
    main()
