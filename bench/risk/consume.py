"""Risk consumption benchmark: order events/s folded into scored customer state, from ready and steady.

    python -m bench.risk.consume [--quick] [--non-durable] [--events N] [--customers N]
                                 [--instances N] [--scale-out] [--consumer-processes N] [--consumer-tasks N]

The service as `make up` starts it (bench/harness.py). Before it starts, --events `order.placed`
events of --customers customers (a year of orders, skewed like a shop's base) are produced to
winback.events, so the service consumes a backlog. Measured from the service being ready (the
consumer group join included) until every event is applied (its inbox claim committed), and
"steady": the events applied after the first committed batch, over the time since.

Baseline in the same run, on the same topic, one layer down: a bare AIOKafkaConsumer in a group of
its own that fetches batches of the service's size and commits their offsets (no decoding, no
database), before and after the service; the mean is the baseline, from its start (group join
included) and after its first record.

--instances N starts N instances of the service in the one consumer group (each its own process,
as a second deployment replica would be). --scale-out runs the whole benchmark with one instance
and then, on fresh servers, with two, and prints a third line: two against one, with every
effect counted (each order stored once, each event claimed once, each customer scored).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench import harness
from bench.risk.handler import make_events
from winback_risk.settings import RiskSettings
from winback_shared.events.topics import Topic


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


async def raw_consumer(bootstrap: str, expected: int, max_records: int) -> tuple[float, float]:
    """The baseline: read the whole topic in a group of its own, committing after each batch.

    Returns events/s from the consumer's start (group join included) and after its first record.
    """
    consumer = harness.own_group_consumer(bootstrap, Topic.EVENTS.value, max_records)
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
    finally:
        await consumer.stop()
    done = time.perf_counter()
    assert first is not None
    return seen / (done - started), seen / (done - first)


async def wait_applied(dsn: str, expected: int, timeout_s: float = 1800.0) -> tuple[float, int, float]:
    """Poll the service's inbox until `expected` events are claimed (applied and committed).

    Returns (when the first batch showed, how many were applied by then, when all were): counted
    in the database, so it works for any number of instances of the service.
    """
    conn = await asyncpg.connect(dsn)
    first: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            applied = int(await conn.fetchval("SELECT count(*) FROM risk.processed_events"))
            now = time.perf_counter()
            if applied and first is None:
                first = (now, applied)
            if applied >= expected:
                assert first is not None
                return first[0], first[1], now
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise TimeoutError(f"risk did not apply {expected} events within {timeout_s}s")


async def count_effects(dsn: str) -> dict[str, int]:
    """Each effect counted: orders stored, events claimed (and distinct), customers scored at their latest event."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM risk.orders) AS orders,
                      (SELECT count(DISTINCT order_id) FROM risk.orders) AS distinct_orders,
                      (SELECT count(*) FROM risk.processed_events) AS claimed,
                      (SELECT count(*) FROM risk.customers) AS customers,
                      (SELECT count(*) FROM risk.customers
                        WHERE assessed_at >= last_event_time AND risk_score IS NOT NULL) AS scored"""
        )
    finally:
        await conn.close()
    return {k: int(v) for k, v in dict(row).items()}


def run_once(
    args: argparse.Namespace, events: list[dict[str, Any]], instances: int, one: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One stack: backlog, raw consumer, N instances of risk consuming it, raw consumer again.

    With `one` (the result of a one-instance run), prints the scale-out line against it instead.
    """
    customers = len({e["data"]["customer_id"] for e in events})
    extra = {}
    for option, variable in (
        ("max_records", "WINBACK_CONSUMER_MAX_RECORDS"),
        ("consumer_tasks", "WINBACK_CONSUMER_TASKS"),
        ("consumer_processes", "WINBACK_CONSUMER_PROCESSES"),
    ):
        if getattr(args, option) is not None:
            extra[variable] = str(getattr(args, option))
    batch = args.max_records or RiskSettings.model_fields["consumer_max_records"].default
    with harness.Stack(args, "risk") as stack:
        stack.migrate("risk")
        produce_s = asyncio.run(produce(stack.bootstrap, events))
        raw_before = asyncio.run(raw_consumer(stack.bootstrap, len(events), batch))
        harness.progress(f"backlog of {len(events)} produced in {produce_s:.1f} s; raw consumer {raw_before[0]:,.0f}/s")
        spawned = time.perf_counter()
        services = stack.start_all("risk", instances, extra, profile=True)
        ready = time.perf_counter()
        first, applied_at_first, done = asyncio.run(wait_applied(stack.dsn, len(events)))
        harness.progress(f"{instances} instance(s) applied {len(events)} events in {done - ready:.1f} s from ready")
        # Each instance's own count; with spawned consumer processes the HTTP process counts only its own.
        shares = [int(harness.counter(service, "winback_risk_events_applied_total")) for service in services]
        for service in services:
            stack.stop(service)
        raw_after = asyncio.run(raw_consumer(stack.bootstrap, len(events), batch))
        effects = asyncio.run(count_effects(stack.dsn))
        expected = {"orders": len(events), "distinct_orders": len(events), "claimed": len(events)}
        once = all(effects[k] == v for k, v in expected.items()) and effects["scored"] == effects["customers"]
        if not once or effects["customers"] != customers:
            raise RuntimeError(f"effects not exactly once: {effects}, expected {expected} and {customers} customers")
        conditions = {
            "events": len(events),
            "customers": customers,
            "instances": instances,
            "events_applied_per_instance": shares,
            "service_settings": extra,
            "start_to_ready_s": round(ready - spawned, 2),
            "first_batch_after_s": round(first - ready, 2),
            "applied_by_first_batch": applied_at_first,
            "effects": effects,
            "effects_exactly_once": once,
        }
        from_ready = len(events) / (done - ready)
        # None when the first poll already saw every event applied (a backlog of a few batches).
        steady = (len(events) - applied_at_first) / (done - first) if applied_at_first < len(events) else None
        raw_ready, raw_steady = ((b + a) / 2 for b, a in zip(raw_before, raw_after, strict=True))
        result = {"from_ready": from_ready, "steady": steady, "conditions": conditions}
        if one is None:
            what = "a bare consumer committing offsets per batch of the service's size, mean of before and after"
            stack.emit(
                "risk.consume_from_ready",
                "events_per_s",
                from_ready,
                "events/s",
                baseline=raw_ready,
                conditions={**conditions, "baseline_is": f"{what}, from its start", "target": ">= 15,000/s"},
            )
            stack.emit(
                "risk.consume_steady",
                "events_per_s",
                steady,
                "events/s",
                baseline=raw_steady,
                conditions={**conditions, "baseline_is": f"{what}, after its first record", "target": ">= 20,000/s"},
            )
        else:
            stack.emit(
                "risk.scale_out",
                "events_per_s_from_ready",
                from_ready,
                "events/s",
                baseline=one["from_ready"],
                conditions={
                    "baseline_is": "one instance, same backlog, fresh servers, same run",
                    "steady_this_vs_one": [steady, one["steady"]],
                    "one": one["conditions"],
                    **conditions,
                    "target": "ratio > 1, every effect exactly once",
                },
            )
        return result


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, help="orders in the backlog (default 200,000; --quick 80,000)")
    parser.add_argument("--customers", type=int, help="customers (default 20,000; --quick 8,000)")
    parser.add_argument("--instances", type=int, default=1, help="instances of risk in the one consumer group")
    parser.add_argument("--scale-out", action="store_true", help="one instance, then two: throughput and effects")
    parser.add_argument("--max-records", type=int, help="WINBACK_CONSUMER_MAX_RECORDS (default: the service's)")
    parser.add_argument("--consumer-tasks", type=int, help="WINBACK_CONSUMER_TASKS (default: the service's)")
    parser.add_argument("--consumer-processes", type=int, help="WINBACK_CONSUMER_PROCESSES (default: the service's)")
    args = parser.parse_args()
    events = make_events(
        harness.sized(args, "events", 200_000, 80_000), harness.sized(args, "customers", 20_000, 8_000), mixed=0.0
    )
    if not args.scale_out:
        run_once(args, events, args.instances)
        return
    run_once(args, events, 2, one=run_once(args, events, 1))


if __name__ == "__main__":
    main()
