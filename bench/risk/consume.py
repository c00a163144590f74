"""Risk consumption benchmark: order events/s folded into customer state with scores kept current.

Starts an embedded PostgreSQL, a Tansu broker and the risk service (a real process, migrated
first) on free ports. Before the service starts, --events `order.placed` events of --customers
customers (a year of orders: a few to a few dozen per customer, skewed like a shop's base, with
amounts and margins) are produced to winback.events, so the service consumes a backlog. Timed
from the service being ready until GET /v1/progress shows lag 0 and the last event's time.

Baseline in the same run, on the same topic: a bare AIOKafkaConsumer in a group of its own
(getmany + commit per batch, the service's batch size, no decoding), before and after the
service; the mean is the baseline. Both are also given after the first record/batch (without
the consumer group join, which takes Tansu seconds).

    python bench/risk/consume.py [--events 200000] [--customers 20000] [--max-records N] [--consumer-tasks N]
                                 [--consumer-processes N] [--profile FILE] [--log FILE]

--profile runs the service under cProfile and prints its 30 most expensive functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from winback_cli.servers import EmbeddedPostgres, TansuBroker, free_port, prepare_dir_for_system_user
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_risk.settings import RiskSettings
from winback_shared.events.topics import ALL_TOPICS, Topic
from winback_shared.kafka.admin import ensure_topics

API_KEY = "bench-risk"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
YEAR_S = 365 * 86_400


def make_events(n: int, customers: int, seed: int = 7) -> list[dict[str, Any]]:
    """A year of orders in time order; purchase rates are gamma-distributed across customers."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.2, 1.0, customers)
    who = rng.choice(customers, size=n, p=rates / rates.sum())
    # Every customer orders at least once: the first `customers` orders go one to each.
    who[: min(n, customers)] = rng.permutation(customers)[: min(n, customers)]
    seconds = np.sort(rng.integers(0, YEAR_S, n))
    amounts = np.round(rng.lognormal(3.6, 0.7, n), 2)
    margins = np.round(amounts * rng.uniform(0.15, 0.45, n), 2)
    run = uuid.uuid4().hex[:8]
    return [
        {
            "specversion": "1.0",
            "id": f"{run}-{i}",
            "source": "/bench/shop",
            "type": "order.placed",
            "time": (T0 + timedelta(seconds=int(seconds[i]))).isoformat(),
            "data": {
                "customer_id": f"c-{who[i]:06d}",
                "order_id": f"o-{i}",
                "amount": f"{amounts[i]:.2f}",
                "currency": "EUR",
                "margin": f"{margins[i]:.2f}",
                "category": "shoes",
            },
        }
        for i in range(n)
    ]


async def produce(bootstrap: str, events: list[dict[str, Any]]) -> float:
    """Produce the backlog (keyed by customer, like ingest) and return the seconds it took."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_048_576)
    await producer.start()
    started = time.perf_counter()
    try:
        for i in range(0, len(events), 5_000):
            futures = [
                await producer.send(
                    Topic.EVENTS.value,
                    value=json.dumps(e).encode(),
                    key=e["data"]["customer_id"].encode(),
                    headers=[("content-type", b"application/cloudevents+json"), ("ce_type", e["type"].encode())],
                )
                for e in events[i : i + 5_000]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def raw_consumer(bootstrap: str, expected: int, max_records: int) -> dict[str, Any]:
    """The baseline: read the whole topic in a group of its own, committing after each batch."""
    consumer = AIOKafkaConsumer(
        Topic.EVENTS.value,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
    )
    started = time.perf_counter()
    await consumer.start()
    seen = 0
    first: float | None = None
    try:
        while seen < expected:
            polled = await consumer.getmany(timeout_ms=200, max_records=max_records)
            if polled:
                first = first or time.perf_counter()
                seen += sum(len(b) for b in polled.values())
                await consumer.commit({tp: b[-1].offset + 1 for tp, b in polled.items()})
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    assert first is not None
    steady = time.perf_counter() - started - (first - started)
    return {
        "events": seen,
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "after_first_record_events_per_s": round(seen / steady),
    }


def applied_events(port: int, database: str) -> int:
    """How many events the service has applied (committed claims in its inbox)."""

    async def count() -> int:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=database)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM risk.processed_events"))
        finally:
            await conn.close()

    return asyncio.run(count())


def wait_caught_up(url: str, last_time: datetime, applied: Any, timeout_s: float = 900.0) -> tuple[float, int]:
    """Poll GET /v1/progress (every 0.1 s) until caught up.

    Returns when the first batch showed and how many events were applied by then: the steady
    rate counts only the events applied after that moment (a first batch of 20,000 is 10 % of
    the default backlog).
    """
    headers = {"Authorization": f"Bearer {API_KEY}"}
    deadline = time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            response = client.get(f"{url}/v1/progress", headers=headers)
            if response.status_code == 503:  # still joining the group: lag not known yet
                time.sleep(0.1)
                continue
            body = response.raise_for_status().json()
            highest = body["highest_event_time"]
            if highest and first is None:
                first = (time.perf_counter(), applied())
            if body["lag"] == 0 and highest and datetime.fromisoformat(highest) == last_time:
                return first or (time.perf_counter(), 0)
            time.sleep(0.1)
    raise TimeoutError(f"risk did not catch up within {timeout_s}s")


async def check_state(port: int, database: str, customers: int, events: int) -> dict[str, Any]:
    """Every order stored once, every customer present and scored at its latest event or later.

    Later: once caught up, the scheduled assessor re-scores everyone at the wall clock.
    """
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=database)
    try:
        row = await conn.fetchrow(
            """SELECT count(*) AS customers,
                      count(*) FILTER (WHERE assessed_at >= last_event_time AND risk_score IS NOT NULL) AS scored,
                      sum(orders) AS orders,
                      count(*) FILTER (WHERE status = 'at_risk') AS at_risk
               FROM risk.customers"""
        )
        stored_orders = await conn.fetchval("SELECT count(*) FROM risk.orders")
    finally:
        await conn.close()
    result = {**dict(row), "stored_orders": stored_orders}
    if result["customers"] != customers or result["scored"] != customers or stored_orders != events:
        raise RuntimeError(f"state incomplete: {result}")
    return result


class ProfiledService(ServiceProcess):
    """The service process, optionally under cProfile (stats are written on graceful stop)."""

    def __init__(self, *args: Any, profile: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile = profile

    def start(self, *, detach: bool = False) -> None:
        if self.profile is None:
            super().start(detach=detach)
            return
        out = open(self.log_path or "/dev/null", "ab")  # noqa: SIM115
        profiler = Path(__file__).parent.parent / "profile_service.py"
        command = [sys.executable, str(profiler), "risk", str(self.profile)]
        self.proc = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--max-records", type=int, help="WINBACK_CONSUMER_MAX_RECORDS (default: the service's)")
    parser.add_argument("--consumer-tasks", type=int, help="WINBACK_CONSUMER_TASKS (default: the service's)")
    parser.add_argument(
        "--consumer-processes", type=int, help="WINBACK_CONSUMER_PROCESSES of the one instance (default: the service's)"
    )
    parser.add_argument("--profile", type=Path, help="write the service's cProfile stats here")
    parser.add_argument("--log", type=Path, help="write the service's log here (default: discarded)")
    args = parser.parse_args()
    events = make_events(args.events, args.customers)
    last_time = datetime.fromisoformat(events[-1]["time"])
    customers = len({e["data"]["customer_id"] for e in events})
    with tempfile.TemporaryDirectory(prefix="risk-bench-") as tmp:
        tmp_dir = Path(tmp)
        tmp_dir.chmod(0o755)  # the PostgreSQL system user must reach its data directory
        pg = EmbeddedPostgres(prepare_dir_for_system_user(tmp_dir / "pg"), free_port(), throwaway=True)
        broker = TansuBroker(free_port())
        service: ProfiledService | None = None
        pg.start()
        broker.start()
        try:
            pg.create_database("risk_bench")
            asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS))
            produce_s = asyncio.run(produce(broker.bootstrap, events))
            spec = ServiceSpec("risk", free_port())
            extra = {"WINBACK_API_KEYS": f"{API_KEY}:ops", "WINBACK_LOG_LEVEL": "WARNING"}
            if args.max_records is not None:
                extra["WINBACK_CONSUMER_MAX_RECORDS"] = str(args.max_records)
            if args.consumer_tasks is not None:
                extra["WINBACK_CONSUMER_TASKS"] = str(args.consumer_tasks)
            if args.consumer_processes is not None:
                extra["WINBACK_CONSUMER_PROCESSES"] = str(args.consumer_processes)
            env = service_env(
                bootstrap=broker.bootstrap, database_url=pg.url_for("risk_bench"), port=spec.port, extra=extra
            )
            migrate(spec, env)
            batch = args.max_records or RiskSettings.model_fields["consumer_max_records"].default
            raw_before = asyncio.run(raw_consumer(broker.bootstrap, len(events), batch))
            log_path = args.log or tmp_dir / "risk.log"
            service = ProfiledService(spec, spec.port, env, log_path=log_path, profile=args.profile)
            spawned = time.perf_counter()
            service.start()
            service.wait_ready()
            ready = time.perf_counter()
            first_batch, applied_at_first = wait_caught_up(
                service.url, last_time, lambda: applied_events(pg.port, "risk_bench")
            )
            done = time.perf_counter()
            raw_after = asyncio.run(raw_consumer(broker.bootstrap, len(events), batch))
            state = asyncio.run(check_state(pg.port, "risk_bench", customers, len(events)))
            raw_rate = (raw_before["events_per_s"] + raw_after["events_per_s"]) / 2
            steady_key = "after_first_record_events_per_s"
            raw_steady = (raw_before[steady_key] + raw_after[steady_key]) / 2
            rate = len(events) / (done - ready)
            steady = (len(events) - applied_at_first) / (done - first_batch)
            result = {
                "events": len(events),
                "customers": customers,
                "produce_backlog_s": round(produce_s, 2),
                "raw_consumer": {"before": raw_before, "after": raw_after, "mean_events_per_s": round(raw_rate)},
                "risk": {
                    "start_to_ready_s": round(ready - spawned, 2),
                    "ready_to_caught_up_s": round(done - ready, 2),
                    "events_per_s": round(rate),
                    "events_per_s_from_spawn": round(len(events) / (done - spawned)),
                    "first_batch_seen_after_s": round(first_batch - ready, 2),
                    "events_applied_by_then": applied_at_first,
                    "after_first_batch_events_per_s": round(steady),
                },
                "ratio_risk_to_raw": round(rate / raw_rate, 3),
                "ratio_steady_state": round(steady / raw_steady, 3),
                "state": state,
                # Throughput once the group has formed (the join takes Tansu 5-9 s, once per start).
                "target_20000_per_s_after_group_join": "met" if steady >= 20_000 else "MISSED",
            }
            print(json.dumps(result, indent=2, default=str))
        finally:
            if service is not None:
                service.stop(timeout_s=60)
            if args.profile is not None and args.profile.exists():
                pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(30)
                pstats.Stats(str(args.profile)).sort_stats("cumtime").print_stats(40)
            broker.stop()
            pg.stop()


if __name__ == "__main__":
    main()
