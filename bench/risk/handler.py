"""Risk's batch handler alone, in-process: events/s and a digest of the resulting state.

Embedded PostgreSQL on a free port, migrated; the events of consume.py (order.placed) plus,
with --mixed, a share of signal events (tickets, surveys, usage, contracts, returns, campaign
responses) so every driver and lifecycle path runs. The events are decoded up front and fed to
`apply_events` in batches (the consumer's path without Kafka). Prints events/s and a SHA-256 of
every customer row (without updated_at) and of the outbox payloads, the handler's own CPU time
per event (less sensitive to the machine's load than events/s) and PostgreSQL's CPU time per event
apart: the digest must not change when the handler is optimised (bench/risk/README.md).

    python -m bench.risk.handler [--quick] [--non-durable] [--events 60000] [--customers 6000] [--batch 5000]
                                 [--mixed 0.1]
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from bench import harness
from winback_risk.adapters.unit_of_work import SqlUnitOfWork
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.population import PRIOR, PopulationModel
from winback_risk.domain.scoring import RiskConfig
from winback_risk.service_layer.handlers import Scoring, apply_events
from winback_shared.clock import FixedClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.events.registry import parse_event_json

T0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
YEAR_S = 365 * 86_400
# A fitted-looking model with tiers, so value tiers and segments are exercised too.
MODEL = PopulationModel(
    purchases=PRIOR.purchases, spend=GammaGamma(p=6.25, q=3.74, gamma=15.44), tier_cutoffs=(400.0, 150.0)
)


def signal_event(rng: np.random.Generator, i: int, customer: str, at: datetime) -> dict[str, Any]:
    """One random non-order event of the customer (every kind risk folds or scores)."""
    kind = int(rng.integers(0, 9))
    ref = f"r-{int(rng.integers(0, 3))}"
    options: list[tuple[str, dict[str, Any]]] = [
        ("ticket.opened", {"ticket_id": ref, "category": ["complaint", "billing"][int(rng.integers(0, 2))]}),
        ("ticket.resolved", {"ticket_id": ref, "outcome": ["solved", "unsolved"][int(rng.integers(0, 2))],
                             "satisfaction": int(rng.integers(1, 6))}),
        ("survey.answered", {"survey": "nps", "score": int(rng.integers(0, 11))}),
        ("survey.answered", {"survey": "csat", "score": int(rng.integers(1, 6))}),
        ("usage.reported", {"metric": "logins", "value": float(rng.integers(0, 50)),
                            "period_start": (at - timedelta(days=7)).isoformat(), "period_end": at.isoformat()}),
        ("contract.started", {"contract_id": ref, "end_date": (at + timedelta(days=int(rng.integers(10, 400))))
                              .date().isoformat()}),
        ("contract.cancelled", {"contract_id": ref, "reason_code": ["price", "fraud", None][int(rng.integers(0, 3))],
                                "effective_date": (at + timedelta(days=30)).date().isoformat()}),
        ("order.returned", {"order_id": f"o-{max(0, i - 5)}", "amount": "12.50"}),
        ("campaign.response", {"action_id": f"a-{i}",
                               "outcome": "opened"}),
    ]  # fmt: skip
    event_type, data = options[kind]
    data = {k: v for k, v in data.items() if v is not None}
    return {
        "specversion": "1.0", "id": f"s-{i}", "source": "/bench/crm", "type": event_type, "time": at.isoformat(),
        "data": {"customer_id": customer, **data},
    }  # fmt: skip


def make_events(n: int, customers: int, mixed: float, seed: int = 7) -> list[dict[str, Any]]:
    """Orders as consume.py makes them (deterministic ids), a `mixed` share replaced by signal events."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.2, 1.0, customers)
    who = rng.choice(customers, size=n, p=rates / rates.sum())
    who[: min(n, customers)] = rng.permutation(customers)[: min(n, customers)]
    seconds = np.sort(rng.integers(0, YEAR_S, n))
    amounts = np.round(rng.lognormal(3.6, 0.7, n), 2)
    margins = np.round(amounts * rng.uniform(0.15, 0.45, n), 2)
    is_signal = rng.random(n) < mixed
    is_signal[:customers] = False
    events = []
    for i in range(n):
        customer, at = f"c-{who[i]:06d}", T0 + timedelta(seconds=int(seconds[i]))
        if is_signal[i]:
            events.append(signal_event(rng, i, customer, at))
            continue
        events.append({
            "specversion": "1.0", "id": f"e-{i}", "source": "/bench/shop", "type": "order.placed",
            "time": at.isoformat(),
            "data": {"customer_id": customer, "order_id": f"o-{i}", "amount": f"{amounts[i]:.2f}",
                     "currency": "EUR", "margin": f"{margins[i]:.2f}", "category": "shoes"},
        })  # fmt: skip
    return events


async def digest(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM risk.customers ORDER BY customer_id")
        outbox = await conn.fetch("SELECT topic, key, event_type, payload FROM risk.outbox ORDER BY id")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM risk.orders) AS orders, (SELECT count(*) FROM risk.signals) AS signals"
        )
    finally:
        await conn.close()
    state = hashlib.sha256()
    for row in rows:
        state.update(repr([(k, v) for k, v in row.items() if k != "updated_at"]).encode())
    # Outbox rows in (key, type, payload) order: the order within a batch is not behaviour.
    out = hashlib.sha256()
    for r in sorted((r["topic"], r["key"] or "", r["event_type"], bytes(r["payload"])) for r in outbox):
        out.update(repr(r).encode())
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    return {
        "customers": len(rows), **dict(counts), "outbox": len(outbox), "statuses": statuses,
        "state_digest": state.hexdigest()[:16], "outbox_digest": out.hexdigest()[:16],
    }  # fmt: skip


def postgres_cpu_s(data_dir: Path) -> float:
    """User + system CPU seconds of the PostgreSQL server's processes so far (postmaster and children).

    The handler's own CPU leaves out the database, which does half the work; exited children
    (an autovacuum worker) drop out, so this slightly undercounts.
    """
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" ", 1)
        except OSError:
            continue
        fields = rest.rsplit(")", 1)[1].split()
        if int(pid) == postmaster or int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def run(url: str, raw: list[bytes], batch: int, data_dir: Path) -> tuple[float, float, float]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    clock = FixedClock(T0 + timedelta(days=400))
    scoring = Scoring(MODEL, RiskConfig(), 90, "margin")
    try:
        events = [parse_event_json(r) for r in raw]
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        started, cpu, db_cpu = time.perf_counter(), time.process_time(), postgres_cpu_s(data_dir)
        for i in range(0, len(events), batch):
            await apply_events(SqlUnitOfWork(sessions), clock, events[i : i + batch], source="/risk", scoring=scoring)
        return time.perf_counter() - started, time.process_time() - cpu, postgres_cpu_s(data_dir) - db_cpu
    finally:
        await engine.dispose()


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, help="events (default 60,000; --quick 20,000)")
    parser.add_argument("--customers", type=int, help="customers (default 6,000; --quick 2,000)")
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--mixed", type=float, default=0.1, help="share of signal events (0: orders only)")
    args = parser.parse_args()
    n, customers = harness.sized(args, "events", 60_000, 20_000), harness.sized(args, "customers", 6_000, 2_000)
    raw = [json.dumps(e).encode() for e in make_events(n, customers, args.mixed)]
    with harness.Stack(args, "risk-handler") as stack:
        stack.migrate("risk")
        seconds, cpu, db_cpu = asyncio.run(run(stack.database_url, raw, args.batch, stack.pg.data_dir))
        stack.emit(
            "risk.handler",
            "events_per_s",
            len(raw) / seconds,
            "events/s",
            baseline=None,
            conditions={
                "events": len(raw), "batch": args.batch, "mixed": args.mixed, "seconds": round(seconds, 2),
                "handler_cpu_us_per_event": round(cpu / len(raw) * 1e6, 1),
                "postgres_cpu_us_per_event": round(db_cpu / len(raw) * 1e6, 1),
                **asyncio.run(digest(stack.dsn)),
                "baseline_is": "none: a diagnostic of the handler alone, compared by its state digest across commits",
            },
        )  # fmt: skip


if __name__ == "__main__":
    main()
