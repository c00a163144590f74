"""Campaign scheduler benchmark: N enrolled customers whose step falls due at once.

Starts an embedded PostgreSQL (fsync off), a Tansu broker and the REAL consent service (one
uvicorn process); loads consent's customers through its own consumer handler; inserts the
campaign fixture (customers, enrolments, one pending e-mail step each) with COPY into two
databases; then runs the campaign scheduler in this process (`Scheduler.drain()`: batches of
`--batch`, `--pipeline` rounds in flight, one consent `decisions:batch` call with `dispatch: true`
per round) until nothing is due: first against an in-process ALLOW-everything consent (the
campaign side alone), then against the real consent service, followed by the outbox relay until
every action is published on `winback.actions`. Baseline in the same run, before and after: raw
`decisions:batch` calls of the same size with `dispatch: true` against the same consent service.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from winback_campaign.adapters.consent_client import ConsentClient
from winback_campaign.adapters.tables import outbox
from winback_campaign.bootstrap import MIGRATIONS
from winback_campaign.domain.ids import enrollment_id_for
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_cli.servers import EmbeddedPostgres, TansuBroker, free_port, prepare_dir_for_system_user
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_consent.service_layer.consume import apply_events
from winback_consent.settings import DEV_HASH_KEY
from winback_shared.clock import FixedClock, SystemClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.db.migrate import upgrade
from winback_shared.db.relay import OutboxRelay
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ConsentGranted, CustomerUpserted
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics
from winback_shared.kafka.producer import EventPublisher

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
KEY = "bench-ops"


def consent_events(n: int) -> list[CloudEvent]:
    """Per consent customer: a profile and a confirmed e-mail DOI consent (every decision is an ALLOW)."""
    events: list[CloudEvent] = []
    evidence = {"confirmed_at": (T0 - timedelta(days=9)).isoformat(), "text_version": "v1"}
    for i in range(n):
        cid = f"bench-{i}"
        profile = {"customer_id": cid, "email": f"c{i}@example.org"}
        events.append(CustomerUpserted.new(source="/bench", time=T0 - timedelta(days=10), data=profile))
        grant = {
            "customer_id": cid,
            "channel": "email",
            "kind": "express",
            "method": "double_opt_in",
            "evidence": evidence,
        }
        events.append(ConsentGranted.new(source="/bench", time=T0 - timedelta(days=9), data=grant))
    return events


async def load_consent(database_url: str, n: int) -> float:
    engine = create_engine(database_url, pool_size=2)
    sessions = create_sessionmaker(engine)
    events = consent_events(n)
    started = time.perf_counter()
    for start in range(0, len(events), 1000):
        await apply_events(sessions, SystemClock(), events[start : start + 1000], DEV_HASH_KEY.encode())
    await engine.dispose()
    return time.perf_counter() - started


async def wait_outbox_drained(dsn: str) -> float:
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        while await connection.fetchval("SELECT EXISTS (SELECT 1 FROM consent.outbox)"):  # noqa: ASYNC110
            await asyncio.sleep(1)  # polling another process's table: there is no event to wait on
    finally:
        await connection.close()
    return time.perf_counter() - started


async def load_campaign(dsn: str, n: int, consent_customers: int) -> float:
    """COPY the fixture: campaign customer i is consent customer i mod `consent_customers`."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        ids = [f"bench-{i % consent_customers}" for i in range(n)]
        # One enrolment per campaign customer; customers repeat in consent only, never in campaign.
        enrollment_ids = [
            enrollment_id_for(f"{cid}#{i}", "winback-basic", "/bench", str(i)) for i, cid in enumerate(ids)
        ]
        await conn.copy_records_to_table(
            "customers",
            schema_name="campaign",
            columns=["customer_id", "name", "email", "language", "kind", "updated_at"],
            records=[(cid, f"Name {cid}", f"{cid}@example.org", "de", "consumer", T0) for cid in sorted(set(ids))],
        )
        await conn.copy_records_to_table(
            "enrollments",
            schema_name="campaign",
            columns=[
                "enrollment_id",
                "customer_id",
                "playbook_id",
                "playbook_version",
                "variant",
                "holdout",
                "status",
                "trigger_at",
                "started_at",
            ],
            # The partial unique index allows one active enrolment per customer: give each its own id suffix.
            records=[
                (eid, f"{cid}#{i}", "winback-basic", 1, "default", False, "active", T0, T0)
                for i, (cid, eid) in enumerate(zip(ids, enrollment_ids, strict=True))
            ],
        )
        await conn.copy_records_to_table(
            "enrollment_steps",
            schema_name="campaign",
            columns=["enrollment_id", "step_id", "position", "channel", "template", "due_at", "status"],
            records=[(eid, "1", 0, "email", "we_miss_you", T0, "pending") for eid in enrollment_ids],
        )
        # Campaign customers carry the suffix; their profile row is the consent customer's.
        await conn.execute(
            "INSERT INTO campaign.customers (customer_id, name, email, language, kind, updated_at) "
            "SELECT e.customer_id, c.name, c.email, c.language, c.kind, c.updated_at FROM campaign.enrollments e "
            "JOIN campaign.customers c ON c.customer_id = split_part(e.customer_id, '#', 1)"
        )
        await conn.execute(
            "ANALYZE campaign.enrollments; ANALYZE campaign.enrollment_steps; ANALYZE campaign.customers"
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


class StrippingConsent(ConsentClient):
    """Asks consent for `bench-i`, the consent customer behind campaign customer `bench-i#k`."""

    waited_s = 0.0
    decisions = 0

    async def decide(self, requests: Any) -> Any:
        from winback_campaign.domain.actions import ConsentRequest

        started = time.perf_counter()
        try:
            return await super().decide(
                [
                    ConsentRequest(r.request_id, r.customer_id.split("#")[0], r.channel, r.offer_category)
                    for r in requests
                ]
            )
        finally:
            # The time consent took to answer the scheduler's own calls (its rate under this load).
            self.waited_s += time.perf_counter() - started
            self.decisions += len(requests)


async def baseline(url: str, batch: int, rounds: int, consent_customers: int) -> float:
    """Raw decisions/s of `decisions:batch` with dispatch, same size as the scheduler's batches."""
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        for r in range(rounds):
            items = [
                {
                    "request_id": f"baseline-{r}-{i}",
                    "customer_id": f"bench-{(r * batch + i) % consent_customers}",
                    "channel": "email",
                    "dispatch": True,
                }
                for i in range(batch)
            ]
            response = await client.post(f"{url}/v1/decisions:batch", json={"items": items}, headers=headers)
            response.raise_for_status()
        return rounds * batch / (time.perf_counter() - started)


class AllowAll:
    """Consent stand-in answering ALLOW at once: the campaign side's own rate, without consent's cost."""

    async def decide(self, requests: Any) -> Any:
        from winback_campaign.domain.actions import ConsentDecision

        await asyncio.sleep(0)
        return {r.request_id: ConsentDecision(True, "express_consent", None, ("bench-evidence",)) for r in requests}

    async def close(self) -> None:
        return None


async def run_scheduler(
    database_url: str, consent: Any, bootstrap: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    engine = create_engine(database_url, pool_size=2 + args.pipeline)
    sessions = create_sessionmaker(engine)
    scheduler = Scheduler(
        sessions=sessions,
        clock=FixedClock(T0 + timedelta(minutes=1)),
        consent=consent,
        sender=SenderIdentity("Bench GmbH", "Weg 1, 10115 Berlin", "hi@bench.example", "https://bench.example/u"),
        config=SchedulerConfig(batch_size=args.batch, pipeline_depth=args.pipeline),
    )
    # As the service does after start-up: the import-time heap is not rescanned by every collection.
    gc.collect()
    gc.freeze()
    result: dict[str, Any] = {}
    published = 0
    done = asyncio.Event()

    async def relay_alongside() -> None:
        # As in the service: the outbox relay publishes while the scheduler is still settling steps.
        nonlocal published
        assert bootstrap is not None
        publisher = EventPublisher(bootstrap, linger_ms=20)
        relay = OutboxRelay(service="campaign", sessions=sessions, table=outbox, publisher=publisher, batch_size=5000)
        try:
            while True:
                n = await relay.publish_pending()
                published += n
                if n == 0:
                    if done.is_set():
                        return
                    await asyncio.sleep(0.05)
        finally:
            await publisher.close()

    started = time.perf_counter()
    relaying = asyncio.create_task(relay_alongside()) if bootstrap is not None else None
    # drain(): `pipeline` rounds in flight; round k+1 asks consent while round k writes.
    settled = await scheduler.drain()
    scheduler_s = time.perf_counter() - started
    done.set()
    await consent.close()
    result |= {"settled": settled, "scheduler_s": round(scheduler_s, 1)}
    if relaying is not None:
        await relaying
        # relay_s: how long after the last step settled the last action was on the topic.
        total_s = time.perf_counter() - started
        result |= {"published": published, "relay_s": round(total_s - scheduler_s, 1), "total_s": round(total_s, 1)}
    await engine.dispose()
    gc.unfreeze()
    return result


def main() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000, help="enrolled campaign customers due at once")
    parser.add_argument("--consent-customers", type=int, default=20_000, help="customers loaded into consent")
    parser.add_argument("--batch", type=int, default=1000, help="due steps per scheduler round (consent max 1,000)")
    parser.add_argument("--baseline-rounds", type=int, default=10)
    parser.add_argument("--pipeline", type=int, default=2, help="scheduler rounds in flight (SchedulerConfig)")
    parser.add_argument("--skip-alone", action="store_true", help="skip the campaign-alone run (AllowAll consent)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        tmp_dir = Path(tmp)
        tmp_dir.chmod(0o755)
        pg = EmbeddedPostgres(prepare_dir_for_system_user(tmp_dir / "pg"), free_port(), throwaway=True)
        broker = TansuBroker(free_port())
        service: ServiceProcess | None = None
        pg.start()
        broker.start()
        try:
            for name in ("consent_bench", "campaign_bench", "campaign_alone"):
                pg.create_database(name)
            consent_db, campaign_db = pg.url_for("consent_bench"), pg.url_for("campaign_bench")
            alone_db = pg.url_for("campaign_alone")
            asyncio.run(ensure_topics(broker.bootstrap, ALL_TOPICS))
            spec = ServiceSpec("consent", free_port())
            env = service_env(
                bootstrap=broker.bootstrap,
                database_url=consent_db,
                port=spec.port,
                extra={"WINBACK_API_KEYS": f"{KEY}:ops", "WINBACK_LOG_LEVEL": "WARNING"},
            )
            migrate(spec, env)
            consent_load_s = asyncio.run(load_consent(consent_db, args.consent_customers))
            campaign_load_s = 0.0
            for db in (campaign_db, *(() if args.skip_alone else (alone_db,))):
                upgrade(db, MIGRATIONS)
                dsn = db.replace("postgresql+asyncpg://", "postgresql://")
                campaign_load_s += asyncio.run(load_campaign(dsn, args.customers, args.consent_customers))
            print(f"loaded consent {consent_load_s:.0f} s, campaign {campaign_load_s:.0f} s", file=sys.stderr)
            alone: dict[str, Any] = {}
            if not args.skip_alone:
                alone = asyncio.run(run_scheduler(alone_db, AllowAll(), None, args))
                print(f"campaign alone: {alone}", file=sys.stderr)
            service = ServiceProcess(spec, spec.port, env, log_path=tmp_dir / "consent.log")
            service.start()
            service.wait_ready()
            # Loading enqueued a consent.changed per grant; in production that import backlog is
            # long relayed before a million steps fall due, so it is drained before measuring.
            drained_s = asyncio.run(wait_outbox_drained(consent_db.replace("postgresql+asyncpg://", "postgresql://")))
            print(f"consent outbox drained in {drained_s:.0f} s", file=sys.stderr)
            base = asyncio.run(baseline(service.url, args.batch, args.baseline_rounds, args.consent_customers))
            consent = StrippingConsent(service.url, KEY, timeout_s=120)
            result = asyncio.run(run_scheduler(campaign_db, consent, broker.bootstrap, args))
            base_after = asyncio.run(baseline(service.url, args.batch, args.baseline_rounds, args.consent_customers))
            in_run = consent.decisions / consent.waited_s
            rate = result["settled"] / result["scheduler_s"]
            end_to_end = result["settled"] / result["total_s"]
            report = {
                **result,
                "scheduler_steps_per_s": round(rate),
                "end_to_end_steps_per_s": round(end_to_end),
                "baseline_consent_batch_dispatch_decisions_per_s": round(base),
                "baseline_after_run_decisions_per_s": round(base_after),
                "ratio_scheduler_to_baseline": round(rate / base, 3),
                "consent_in_run_decisions_per_s": round(in_run),
                "ratio_scheduler_to_consent_in_run": round(rate / in_run, 3),
                "campaign_alone_steps_per_s": round(alone["settled"] / alone["scheduler_s"]) if alone else None,
                "extrapolated_1m_minutes": round(1_000_000 / end_to_end / 60, 1),
                "conditions": {
                    "customers": args.customers,
                    "consent_customers": args.consent_customers,
                    "batch": args.batch,
                    "pipeline": args.pipeline,
                    "consent_load_s": round(consent_load_s),
                    "campaign_load_s": round(campaign_load_s),
                    "loadavg_after": os.getloadavg(),
                },
            }
            print(json.dumps(report, indent=2))
        finally:
            if service is not None:
                service.stop()
            broker.stop()
            pg.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
