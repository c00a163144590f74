"""Ingest benchmark: events/s through POST /v1/events in 1,000-event batches, against ingest's own producer.

    python -m bench.ingest.run [--quick] [--non-durable] [--events N] [--batch 1000] [--concurrency 8] [--workers 1]

The service as `make up` starts it (bench/harness.py). In the same run, to the same broker:
  (a) ingest: the events as JSON batches of --batch events, --concurrency requests in flight, as the
      import tool and shop backends send them; each answered 202 only after validation, the
      de-duplication claim (a PostgreSQL commit) and the broker's ack;
  (b) baseline, one layer down: the same events through ingest's own publisher (`AbandoningPublisher`:
      one batch per partition built with aiokafka's `create_batch`/`send_batch`, acks=all), the same
      chunks and concurrency, without HTTP, validation or the database; before and after (a), the
      mean is the baseline.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import harness
from winback_ingest.adapters.publisher import AbandoningPublisher
from winback_shared.kafka.producer import OutgoingRecord

RAW_TOPIC = "bench.raw"
HEADERS = {"Authorization": "Bearer bench-ingest", "Content-Type": "application/cloudevents-batch+json"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_events(n: int) -> list[dict[str, Any]]:
    """Orders of 20,000 customers, the dominant event kind of a shop's history."""
    return [
        {
            "specversion": "1.0",
            "id": f"e-{i}",
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


async def in_parallel(work: list[Any], concurrency: int, handle: Any) -> float:
    """`concurrency` workers take the items in order; returns the seconds until all are handled."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await handle(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def through_publisher(bootstrap: str, events: list[dict[str, Any]], batch: int, concurrency: int) -> float:
    """Events/s of ingest's publisher alone (per-partition batches), `batch` records per publish."""
    records = [OutgoingRecord(RAW_TOPIC, e["data"]["customer_id"], json.dumps(e).encode(), e["type"]) for e in events]
    chunks = [records[i : i + batch] for i in range(0, len(records), batch)]
    publisher = AbandoningPublisher(bootstrap)
    try:
        await publisher.publish(chunks[0][:1])  # metadata and connections, as ingest has them when warm
        seconds = await in_parallel(chunks, concurrency, publisher.publish)
    finally:
        await publisher.close()
    return len(records) / seconds


async def through_ingest(url: str, events: list[dict[str, Any]], batch: int, concurrency: int) -> dict[str, Any]:
    bodies = [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)]
    latencies: list[float] = []
    accepted = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def post(body: bytes) -> None:
            nonlocal accepted
            sent = time.perf_counter()
            response = await client.post(f"{url}/v1/events", content=body, headers=HEADERS)
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 202:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
            accepted += response.json()["accepted"]

        # Warm-up request: connections, the producer's metadata and the database pool.
        (await client.post(f"{url}/v1/events", content=b"[]", headers=HEADERS)).raise_for_status()
        seconds = await in_parallel(bodies, concurrency, post)
    if accepted != len(events):
        raise RuntimeError(f"accepted {accepted} of {len(events)}")
    return {
        "events_per_s": len(events) / seconds,
        "requests": len(bodies),
        "latency_ms": {
            "p50": round(harness.percentile(latencies, 0.50) * 1000, 1),
            "p99": round(harness.percentile(latencies, 0.99) * 1000, 1),
            "mean": round(statistics.fmean(latencies) * 1000, 1),
        },
    }


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, help="events sent (default 200,000; --quick 30,000)")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="ingest's uvicorn worker processes (WINBACK_WORKERS)")
    args = parser.parse_args()
    events = make_events(harness.sized(args, "events", 200_000, 30_000))
    with harness.Stack(args, "ingest", extra_topics=[RAW_TOPIC]) as stack:
        service = stack.start(
            "ingest", {"WINBACK_API_KEYS": "bench-ingest:ingest", "WINBACK_WORKERS": str(args.workers)}, profile=True
        )
        # Before and after: on a shared machine the mean of both is fairer than either alone.
        before = asyncio.run(through_publisher(stack.bootstrap, events, args.batch, args.concurrency))
        harness.progress(f"publisher alone: {before:,.0f} events/s")
        ingest = asyncio.run(through_ingest(service.url, events, args.batch, args.concurrency))
        harness.progress(f"ingest: {ingest['events_per_s']:,.0f} events/s")
        after = asyncio.run(through_publisher(stack.bootstrap, events, args.batch, args.concurrency))
        stack.emit(
            "ingest",
            "events_per_s",
            ingest["events_per_s"],
            "events/s",
            baseline=(before + after) / 2,
            conditions={
                "events": len(events),
                "batch": args.batch,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "requests": ingest["requests"],
                "latency_ms_per_request": ingest["latency_ms"],
                "baseline_is": "ingest's publisher alone (per-partition batches), mean of before and after",
                "baseline_before_after": [round(before), round(after)],
                "target": "ratio >= 0.5",
            },
        )


if __name__ == "__main__":
    main()
