"""Ingest benchmark: events/s through POST /v1/events against the raw aiokafka producer rate.

Starts an embedded PostgreSQL, a Tansu broker and the ingest service on free ports, then, in
the same run and to the same broker:
  (a) baseline: the same events sent by a bare AIOKafkaProducer (ingest's producer settings,
      acks=all, one `send` per record), --concurrency tasks each awaiting 1,000-record chunks,
      like ingest's publishes; measured before and after (b), the mean is the baseline;
  (b) ingest: the events as JSON batches of --batch events, --concurrency requests in flight,
      each answered 202 only after validation, de-duplication claim and the broker's ack.

    python bench/ingest/run.py [--events 200000] [--batch 1000] [--concurrency 8] [--profile FILE]

--profile runs the service under cProfile and prints its 25 most expensive functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from winback_cli.servers import EmbeddedPostgres, TansuBroker, free_port, prepare_dir_for_system_user
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics

HEADERS = {"Authorization": "Bearer bench-ingest", "Content-Type": "application/cloudevents-batch+json"}
RAW_TOPIC = "bench.raw"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_events(n: int) -> list[dict[str, Any]]:
    """Orders of 20,000 customers, the dominant event kind of a shop's history."""
    run = uuid.uuid4().hex[:8]
    return [
        {
            "specversion": "1.0",
            "id": f"{run}-{i}",
            "source": "/bench/shop",
            "type": "order.placed",
            "time": (T0 + timedelta(minutes=i)).isoformat(),
            "data": {
                "customer_id": f"c-{i % 20_000}",
                "order_id": f"o-{i}",
                "amount": f"{10 + i % 90}.{i % 100:02d}",
                "currency": "EUR",
                "margin": "3.10",
                "category": "shoes",
            },
        }
        for i in range(n)
    ]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_producer(bootstrap: str, events: list[dict[str, Any]], concurrency: int, chunk: int) -> dict[str, Any]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=1_048_576,
        max_request_size=8_388_608,
    )
    await producer.start()
    records = [(e["data"]["customer_id"].encode(), json.dumps(e).encode(), e["type"].encode()) for e in events]
    chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]
    queue: asyncio.Queue[list[tuple[bytes, bytes, bytes]]] = asyncio.Queue()
    for c in chunks:
        queue.put_nowait(c)

    async def worker() -> None:
        while not queue.empty():
            part = queue.get_nowait()
            headers = [("content-type", b"application/cloudevents+json")]
            futures = [
                await producer.send(RAW_TOPIC, value=v, key=k, headers=[*headers, ("ce_type", t)]) for k, v, t in part
            ]
            await asyncio.gather(*futures)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"events": len(events), "seconds": round(seconds, 2), "events_per_s": round(len(events) / seconds)}


async def through_ingest(url: str, events: list[dict[str, Any]], batch: int, concurrency: int) -> dict[str, Any]:
    bodies = [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    accepted = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            sent = time.perf_counter()
            response = await client.post(f"{url}/v1/events", content=body, headers=HEADERS)
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 202:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
            accepted += response.json()["accepted"]

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        # Warm-up request: connections, the producer's metadata and the database pool.
        warm = await client.post(f"{url}/v1/events", content=b"[]", headers=HEADERS)
        warm.raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    if accepted != len(events):
        raise RuntimeError(f"accepted {accepted} of {len(events)}")
    return {
        "events": len(events),
        "requests": len(bodies),
        "seconds": round(seconds, 2),
        "events_per_s": round(len(events) / seconds),
        "latency_ms": {
            "p50": round(_pct(latencies, 0.50) * 1000, 1),
            "p99": round(_pct(latencies, 0.99) * 1000, 1),
            "mean": round(statistics.fmean(latencies) * 1000, 1),
        },
    }


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
        command = [sys.executable, str(profiler), "ingest", str(self.profile)]
        self.proc = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", type=Path, help="write the service's cProfile stats here")
    args = parser.parse_args()
    events = make_events(args.events)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        tmp_dir = Path(tmp)
        tmp_dir.chmod(0o755)  # the PostgreSQL system user must reach its data directory
        pg = EmbeddedPostgres(prepare_dir_for_system_user(tmp_dir / "pg"), free_port(), throwaway=True)
        broker = TansuBroker(free_port())
        service: ServiceProcess | None = None
        pg.start()
        broker.start()
        try:
            pg.create_database("ingest_bench")
            database_url = pg.url_for("ingest_bench")
            asyncio.run(ensure_topics(broker.bootstrap, [*ALL_TOPICS, RAW_TOPIC]))
            spec = ServiceSpec("ingest", free_port())
            env = service_env(
                bootstrap=broker.bootstrap,
                database_url=database_url,
                port=spec.port,
                extra={"WINBACK_API_KEYS": "bench-ingest:ingest", "WINBACK_LOG_LEVEL": "WARNING"},
            )
            migrate(spec, env)
            service = ProfiledService(spec, spec.port, env, log_path=tmp_dir / "ingest.log", profile=args.profile)
            service.start()
            service.wait_ready()
            # The baseline runs before and after ingest: on a shared machine the mean of both is
            # fairer than either alone.
            raw_before = asyncio.run(raw_producer(broker.bootstrap, events, args.concurrency, args.batch))
            ingest = asyncio.run(through_ingest(service.url, events, args.batch, args.concurrency))
            raw_after = asyncio.run(raw_producer(broker.bootstrap, events, args.concurrency, args.batch))
            raw_rate = (raw_before["events_per_s"] + raw_after["events_per_s"]) / 2
            result = {
                "raw_producer": {"before": raw_before, "after": raw_after, "mean_events_per_s": round(raw_rate)},
                "ingest": ingest,
                "ratio_ingest_to_raw": round(ingest["events_per_s"] / raw_rate, 2),
            }
            print(json.dumps(result, indent=2))
        finally:
            if service is not None:
                service.stop()
            if args.profile is not None and args.profile.exists():
                pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)
            broker.stop()
            pg.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
