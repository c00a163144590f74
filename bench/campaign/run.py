"""Campaign benchmark: N customers whose win-back step falls due at once, settled by the real services.

    python -m bench.campaign.run [--quick] [--non-durable] [--customers N] [--instances N] [--scale-out]
                                 [--pipeline-depth N] [--load-concurrency 3]

The consent and campaign services as `make up` starts them (bench/harness.py). Consent's customers
are loaded through its own consumer handler (a profile and a confirmed e-mail DOI each, so every
decision is an ALLOW that records a `use` in the customer's ledger), and its outbox is relayed
before measuring. The campaign fixture (one `winback-basic` enrolment per customer, one pending
e-mail step, all due at once) is COPYed into campaign's schema. Then campaign is started (with
`WINBACK_SCHEDULER_BATCH_SIZE=1000`): its scheduler claims rounds of 1,000 due steps, asks consent
once per round (`decisions:batch`, `dispatch: true`) and writes actions, steps and outbox rows in one
transaction; its relay publishes the actions to `winback.actions`. Timed from the process start
until no step is pending and the outbox is empty (every action on the topic).

Baseline in the same run, one layer down: `decisions:batch` calls of 1,000 with `dispatch: true`
against the same consent service, one after the other, before and after (the mean): consent's own
rate for what the scheduler asks of it.

Every effect is counted afterwards: one action per step, and the records on `winback.actions`.
--scale-out runs one instance and then, on fresh servers, two (one consumer group, the scheduler's
claims shared through `FOR UPDATE SKIP LOCKED`), and prints a line for two against one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench import harness
from bench.consent.run import load_events
from winback_campaign.domain.ids import enrollment_id_for
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ConsentGranted, CustomerUpserted
from winback_shared.events.topics import Topic

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
BATCH = 1_000
ENROLMENT_COLUMN_NAMES = (
    "enrollment_id customer_id playbook_id playbook_version variant holdout status trigger_at started_at"
)
ENROLMENT_COLUMNS = ENROLMENT_COLUMN_NAMES.split()


def consent_events(n: int) -> list[CloudEvent]:
    """Per customer: a profile and a confirmed e-mail DOI consent (every decision is an ALLOW)."""
    events: list[CloudEvent] = []
    evidence = {"confirmed_at": (T0 - timedelta(days=9)).isoformat(), "text_version": "v1"}
    for i in range(n):
        cid = f"bench-{i}"
        profile = {"customer_id": cid, "email": f"c{i}@example.org"}
        events.append(CustomerUpserted.new(source="/bench", time=T0 - timedelta(days=10), data=profile))
        grant = {"customer_id": cid, "channel": "email", "kind": "express", "method": "double_opt_in"}
        events.append(
            ConsentGranted.new(source="/bench", time=T0 - timedelta(days=9), data={**grant, "evidence": evidence})
        )
    return events


async def wait_consent_outbox_drained(dsn: str) -> float:
    """Loading enqueued a consent.changed per grant; in production that backlog is long relayed."""
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        while await connection.fetchval("SELECT EXISTS (SELECT 1 FROM consent.outbox)"):  # noqa: ASYNC110
            await asyncio.sleep(1)  # polling another process's table: there is no event to wait on
    finally:
        await connection.close()
    return time.perf_counter() - started


async def load_campaign(dsn: str, n: int) -> float:
    """COPY the fixture: customer `bench-i` (consent's customer i), one enrolment with one due step."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        ids = [f"bench-{i}" for i in range(n)]
        enrolments = [enrollment_id_for(cid, "winback-basic", "/bench", str(i)) for i, cid in enumerate(ids)]
        await conn.copy_records_to_table(
            "customers",
            schema_name="campaign",
            columns=["customer_id", "name", "email", "language", "kind", "updated_at"],
            records=[(cid, f"Name {cid}", f"{cid}@example.org", "de", "consumer", T0) for cid in ids],
        )
        await conn.copy_records_to_table(
            "enrollments",
            schema_name="campaign",
            columns=ENROLMENT_COLUMNS,
            records=[
                (eid, cid, "winback-basic", 1, "default", False, "active", T0, T0)
                for cid, eid in zip(ids, enrolments, strict=True)
            ],
        )
        await conn.copy_records_to_table(
            "enrollment_steps",
            schema_name="campaign",
            columns=["enrollment_id", "step_id", "position", "channel", "template", "due_at", "status"],
            records=[(eid, "1", 0, "email", "we_miss_you", T0, "pending") for eid in enrolments],
        )
        await conn.execute(
            "ANALYZE campaign.enrollments; ANALYZE campaign.enrollment_steps; ANALYZE campaign.customers"
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


async def consent_baseline(url: str, rounds: int, customers: int, tag: str) -> float:
    """Raw decisions/s of `decisions:batch` with dispatch, 1,000 distinct customers per call, as the scheduler asks."""
    headers = {"Authorization": f"Bearer {harness.API_KEY}"}
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        for r in range(rounds):
            items = [
                {
                    "request_id": f"baseline-{tag}-{r}-{i}",
                    "customer_id": f"bench-{(r * BATCH + i) % customers}",
                    "channel": "email",
                    "dispatch": True,
                }
                for i in range(BATCH)
            ]
            response = await client.post(f"{url}/v1/decisions:batch", json={"items": items}, headers=headers)
            response.raise_for_status()
        return rounds * BATCH / (time.perf_counter() - started)


async def wait_settled(dsn: str, timeout_s: float = 3600.0) -> tuple[float, float]:
    """Poll until no step is pending, then until the outbox is empty; returns both moments."""
    conn = await asyncpg.connect(dsn)
    deadline = time.monotonic() + timeout_s
    settled: float | None = None
    try:
        while time.monotonic() < deadline:
            if settled is None and not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM campaign.enrollment_steps WHERE status = 'pending')"
            ):
                settled = time.perf_counter()
            if settled is not None and not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM campaign.outbox)"):
                return settled, time.perf_counter()
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    raise TimeoutError(f"steps not settled and published within {timeout_s}s")


async def count_effects(dsn: str, bootstrap: str) -> dict[str, int]:
    """Actions in campaign's table (per step, by status) and the action records on `winback.actions`."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """SELECT count(*) AS actions,
                      count(DISTINCT (enrollment_id, step_id)) AS steps_with_action,
                      count(*) FILTER (WHERE status = 'triggered') AS triggered,
                      (SELECT count(*) FROM campaign.enrollment_steps WHERE status = 'pending') AS pending
               FROM campaign.actions"""
        )
    finally:
        await conn.close()
    consumer = harness.own_group_consumer(bootstrap, Topic.ACTIONS.value, 20_000)
    await consumer.start()
    records, ids = 0, set[str]()
    try:
        # The topic holds nothing else; stop once two polls in a row bring nothing after records came.
        idle = 0
        while idle < (2 if records else 50):
            polled = await consumer.getmany(timeout_ms=500, max_records=20_000)
            idle = 0 if polled else idle + 1
            for batch in polled.values():
                records += len(batch)
                ids.update(json.loads(r.value)["data"]["action_id"] for r in batch if r.value is not None)
    finally:
        await consumer.stop()
    return {**{k: int(v) for k, v in dict(row).items()}, "published_records": records, "published_distinct": len(ids)}


def run_once(args: argparse.Namespace, instances: int, one: dict[str, Any] | None = None) -> dict[str, Any]:
    """One stack: consent loaded and running, the fixture, N campaign instances settling it."""
    n = args.customers
    with harness.Stack(args, "campaign") as stack:
        stack.migrate("consent")
        stack.migrate("campaign")
        consent_load_s = asyncio.run(
            load_events(stack.database_url, consent_events(n), concurrency=args.load_concurrency)
        )
        campaign_load_s = asyncio.run(load_campaign(stack.dsn, n))
        harness.progress(f"loaded consent in {consent_load_s:.0f} s, campaign in {campaign_load_s:.0f} s")
        consent = stack.start("consent")
        drained_s = asyncio.run(wait_consent_outbox_drained(stack.dsn))
        before = asyncio.run(consent_baseline(consent.url, args.baseline_rounds, n, "before"))
        harness.progress(f"consent outbox drained in {drained_s:.0f} s; consent alone {before:,.0f} decisions/s")
        extra = {
            "WINBACK_CONSENT_URL": consent.url,
            "WINBACK_CONSENT_API_KEY": harness.API_KEY,
            "WINBACK_CONSENT_TIMEOUT_S": "60",
            "WINBACK_SCHEDULER_BATCH_SIZE": str(BATCH),
            **({"WINBACK_SCHEDULER_PIPELINE_DEPTH": str(args.pipeline_depth)} if args.pipeline_depth else {}),
        }
        wal_before = stack.postgres_settings()
        spawned = time.perf_counter()
        services = stack.start_all("campaign", instances, extra, profile=True)
        ready = time.perf_counter()
        settled, published = asyncio.run(wait_settled(stack.dsn))
        wal_after = stack.postgres_settings()
        harness.progress(f"{instances} instance(s): settled after {settled - spawned:.1f} s")
        shares = [int(harness.counter(service, "winback_campaign_actions_total")) for service in services]
        for service in services:
            stack.stop(service)
        after = asyncio.run(consent_baseline(consent.url, args.baseline_rounds, n, "after"))
        effects = asyncio.run(count_effects(stack.dsn, stack.bootstrap))
        once = effects["actions"] == effects["steps_with_action"] == effects["published_distinct"] == n
        once = once and effects["published_records"] == n and effects["pending"] == 0
        if not once:
            raise RuntimeError(f"effects not exactly once for {n} steps: {effects}")
        seconds = published - spawned
        conditions = {
            "customers": n,
            "instances": instances,
            "pipeline_depth": args.pipeline_depth or "service default",
            "actions_settled_per_instance": shares,
            "minutes": round(seconds / 60, 2),
            "start_to_ready_s": round(ready - spawned, 1),
            "settled_s": round(settled - spawned, 1),
            "published_s": round(seconds, 1),
            "extrapolated_1m_minutes": round(1_000_000 / (n / seconds) / 60, 1),
            "baseline_before_after": [round(before), round(after)],
            "consent_load_s": round(consent_load_s),
            "consent_load_concurrency": args.load_concurrency,
            "campaign_load_s": round(campaign_load_s),
            # WAL written while the steps were settled (both services, one cluster): what each step
            # costs the disk, whatever the machine's load.
            "measured_phase_wal": {
                key: round((wal_after[key] - wal_before[key]) / n, 2) for key in ("wal_records", "wal_fpi", "wal_bytes")
            }
            | {"per": "step", "checkpoints": wal_after["checkpoints"] - wal_before["checkpoints"]},
            "effects": effects,
            "effects_exactly_once": once,
        }
        rate = n / seconds
        if one is None:
            stack.emit(
                "campaign.due_steps",
                "steps_per_s",
                rate,
                "steps/s",
                baseline=(before + after) / 2,
                conditions={
                    **conditions,
                    "baseline_is": "consent's dispatch:true batches of 1,000 alone, mean of before and after",
                    "target": "1,000,000 in < 10 min (>= 1,667/s)",
                },
            )
        else:
            stack.emit(
                "campaign.scale_out",
                "steps_per_s",
                rate,
                "steps/s",
                baseline=one["rate"],
                conditions={
                    **conditions,
                    "baseline_is": "one instance, same fixture, fresh servers, same run",
                    "one": one["conditions"],
                    "target": "ratio > 1, every effect exactly once",
                },
            )
        return {"rate": rate, "conditions": conditions}


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, help="customers due at once (default 1,000,000; --quick 20,000)")
    parser.add_argument("--instances", type=int, default=1, help="campaign instances (one consumer group)")
    parser.add_argument("--scale-out", action="store_true", help="one instance, then two: throughput and effects")
    parser.add_argument("--baseline-rounds", type=int, default=10)
    parser.add_argument("--pipeline-depth", type=int, help="WINBACK_SCHEDULER_PIPELINE_DEPTH (default: the service's)")
    parser.add_argument(
        "--load-concurrency", type=int, default=3, help="consent fixture: slices applied at once (setup only)"
    )
    args = parser.parse_args()
    args.customers = harness.sized(args, "customers", 1_000_000, 20_000)
    if args.scale_out:
        run_once(args, 2, one=run_once(args, 1))
    else:
        run_once(args, args.instances)


if __name__ == "__main__":
    main()
