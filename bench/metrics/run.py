"""Metrics benchmark: GET /v1/kpis over 1,000,000 customers and about 10,000,000 events (target < 2 s).

    python -m bench.metrics.run [--quick] [--non-durable] [--customers N] [--orders N] [--repeat 5] [--hold]

The service as `make up` starts it (bench/harness.py). Loads the fact tables directly
with bulk SQL (generate_series), one row per event the consumer would have stored: status
changes (churns, returns), CLV values, actions, responses, enrolments, orders, surveys,
cancellations and contract runs (whose payments after a return count at KPI time). Then
rebuilds every episode's roll-ups with the same statements the consumer
runs per batch (adapters/episode_refresh.py), starts the REAL metrics service and times its
HTTP answers. Baseline in the same run: `SELECT count(*)` over every fact table.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from bench import harness
from winback_metrics.adapters import kpi_repository as repo
from winback_metrics.adapters.episode_refresh import refresh_episodes
from winback_metrics.domain.cohort import CohortFilter, Period
from winback_metrics.domain.kpis import compute_kpis
from winback_shared.db.engine import create_engine, create_sessionmaker

T0 = "2024-01-01T00:00:00Z"
TABLES = (
    "churn_episodes",
    "returns",
    "customer_values",
    "actions",
    "responses",
    "enrollments",
    "orders",
    "surveys",
    "cancellations",
    "contract_runs",
)


def load_sql(customers: int, orders: int) -> list[str]:
    """One statement per table; churned customers are the first 20 %, one in five of them comes back."""
    churned = customers // 5
    churn_at = f"timestamptz '{T0}' + (i % 365) * interval '1 day'"
    back_at = f"{churn_at} + (10 + i % 60) * interval '1 day'"
    texts = "(ARRAY['Preis zu hoch','price too high','Service schlecht erreichbar','moved abroad','zu teuer'])"
    return [
        f"""INSERT INTO metrics.churn_episodes
                (customer_id, churned_at, churn_reason, winback_eligible, segment, value_tier)
            SELECT 'c' || i, {churn_at}, (ARRAY['price','service','competitor','moved','budget'])[1 + i % 5], true,
                   (ARRAY['consumer','business'])[1 + i % 2], (ARRAY['A','B','C'])[1 + i % 3]
            FROM generate_series(0, {churned - 1}) i""",
        # One in 25 churned customers is lost again 120 days after the return: a second episode.
        f"""INSERT INTO metrics.churn_episodes (customer_id, churned_at, churn_reason, winback_eligible)
            SELECT 'c' || i, {back_at} + interval '120 days', 'price', true
            FROM generate_series(0, {churned - 1}, 25) i""",
        f"""INSERT INTO metrics.returns SELECT 'c' || i, {back_at} FROM generate_series(0, {churned - 1}, 5) i""",
        f"""INSERT INTO metrics.customer_values
            SELECT 'c' || i, {churn_at} - interval '1 day', 100 + i % 400 FROM generate_series(0, {churned - 1}) i
            UNION ALL SELECT 'c' || i, {back_at} + interval '1 day', 150 + i % 400
            FROM generate_series(0, {churned - 1}, 5) i
            UNION ALL SELECT 'c' || i, timestamptz '{T0}', 50 + i % 500
            FROM generate_series({churned}, {customers - 1}) i""",
        # Three actions per contacted customer (one in ten is held out), a suppressed one for every other.
        f"""INSERT INTO metrics.actions (action_id, customer_id, status, channel, template, variant, reason,
                                         playbook_id, enrollment_id, cost, occurred_at)
            SELECT 'a' || i || '-' || n, 'c' || i, 'triggered', (ARRAY['email','sms','post'])[n],
                   (ARRAY['email','sms','post'])[n] || '-t' || (i % 3), (ARRAY['A','B'])[1 + i % 2], NULL,
                   'pb-' || (i % 4), 'en-' || i, (ARRAY[0.05, 0.10, 1.20])[n],
                   {churn_at} + n * interval '1 day' + interval '1 hour'
            FROM generate_series(0, {churned - 1}) i, generate_series(1, 3) n WHERE i % 10 <> 9
            UNION ALL
            SELECT 'a' || i || '-s', 'c' || i, 'suppressed', 'phone', NULL, NULL, 'no_consent', 'pb-' || (i % 4),
                   'en-' || i, 0, {churn_at} + interval '2 hours'
            FROM generate_series(0, {churned - 1}, 2) i WHERE i % 10 <> 9""",
        f"""INSERT INTO metrics.responses
            SELECT 'a' || i || '-1', 'delivered', 'c' || i, {churn_at} + interval '1 day 2 hours'
            FROM generate_series(0, {churned - 1}) i WHERE i % 10 <> 9
            UNION ALL SELECT 'a' || i || '-1', 'opened', 'c' || i, {churn_at} + interval '1 day 5 hours'
            FROM generate_series(0, {churned - 1}, 3) i WHERE i % 10 <> 9""",
        f"""INSERT INTO metrics.enrollments (enrollment_id, customer_id, playbook_id, variant, enrolled_at, holdout)
            SELECT 'en-' || i, 'c' || i, 'pb-' || (i % 4), (ARRAY['A','B'])[1 + i % 2], {churn_at} + interval '1 hour',
                   i % 10 = 9
            FROM generate_series(0, {churned - 1}) i""",
        # Orders spread over all customers and two years; every returned customer orders on return.
        f"""INSERT INTO metrics.orders
            SELECT 'c' || (g % {customers}), 'o' || g,
                   timestamptz '{T0}' - interval '365 days' + (g % 730) * interval '1 day',
                   20 + g % 200, 5 + g % 50
            FROM generate_series(1, {orders}) g
            UNION ALL SELECT 'c' || i, 'r' || i, {back_at}, 80, 25 FROM generate_series(0, {churned - 1}, 5) i""",
        f"""INSERT INTO metrics.surveys
            SELECT 's' || i, 'c' || i, 'nps', i % 11, {back_at} + interval '3 days'
            FROM generate_series(0, {churned - 1}, 5) i
            UNION ALL SELECT 'x' || i, 'c' || i, 'csat', 1 + i % 5, timestamptz '{T0}'
            FROM generate_series({churned}, {churned + 150_000}) i""",
        # Contracts: every other churned customer had one that ended 30 days after the churn, one in ten
        # signed again on return (open-ended, paid monthly up to the KPI's now), a third of the others pay.
        f"""INSERT INTO metrics.contract_runs
            SELECT 'c' || i, 'k' || i, {churn_at} - interval '400 days', 30 + i % 300, 30 + i % 300,
                   {churn_at} + interval '30 days'
            FROM generate_series(0, {churned - 1}, 2) i
            UNION ALL SELECT 'c' || i, 'k' || i || '-back', {back_at}, 50 + i % 500, 50 + i % 500, NULL
            FROM generate_series(0, {churned - 1}, 10) i
            UNION ALL SELECT 'c' || i, 'k' || i, timestamptz '{T0}' - interval '200 days', 20 + i % 100,
                   20 + i % 100, NULL
            FROM generate_series({churned}, {customers - 1}, 3) i""",
        f"""INSERT INTO metrics.cancellations
            SELECT 'k' || i, 'c' || i, {churn_at} - interval '3 days', NULL, {texts}[1 + i % 5]
            FROM generate_series(0, {churned - 1}, 2) i""",
    ]


async def load(dsn: str, customers: int, orders: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    connection = await asyncpg.connect(dsn)
    try:
        for statement in load_sql(customers, orders):
            table = statement.split("INTO ", 1)[1].split()[0]
            started = time.perf_counter()
            await connection.execute(statement)
            timings[table] = timings.get(table, 0.0) + time.perf_counter() - started
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return timings


async def rebuild(url: str) -> float:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    started = time.perf_counter()
    async with sessions.begin() as session:
        await refresh_episodes(session, None)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await connection.execute("VACUUM ANALYZE")
    await connection.close()
    return elapsed


async def baseline(dsn: str, repeat: int) -> tuple[float, int]:
    """`SELECT count(*)` over every fact table, best of `repeat`."""
    connection = await asyncpg.connect(dsn)
    best, total = float("inf"), 0
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            total = 0
            for table in TABLES:
                total += await connection.fetchval(f"SELECT count(*) FROM metrics.{table}")
            best = min(best, time.perf_counter() - started)
    finally:
        await connection.close()
    return best, total


async def breakdown(url: str, repeat: int) -> dict[str, float]:
    """Median seconds of each query behind GET /v1/kpis (unfiltered), run in this process."""
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    cohort = CohortFilter(Period(None, None))
    now = datetime.now(UTC)
    steps: dict[str, Any] = {
        "summary+reasons": lambda s: repo.load_summary(s, cohort, now),
        "actions": lambda s: repo.load_actions(s, cohort),
        "playbooks": lambda s: repo.load_playbooks(s, cohort),
        "contract_payments": lambda s: repo.load_contract_payments(s, cohort, now),
    }
    result: dict[str, float] = {}
    try:
        async with sessions() as session:
            for name, step in steps.items():
                samples = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    value = await step(session)
                    samples.append(time.perf_counter() - started)
                result[name] = round(statistics.median(samples), 3)
                if name == "summary+reasons":
                    started = time.perf_counter()
                    compute_kpis(value, [], now)
                    result["python_themes_and_answer"] = round(time.perf_counter() - started, 3)
    finally:
        await engine.dispose()
    return result


async def time_http(url: str, repeat: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {harness.API_KEY}"}
    queries = {
        "kpis_all": ("/v1/kpis", {}),
        "kpis_quarter": ("/v1/kpis", {"from": "2024-01-01", "to": "2024-03-31"}),
        "kpis_channel_sms": ("/v1/kpis", {"channel": "sms"}),
        "kpis_playbook": ("/v1/kpis", {"playbook_id": "pb-1"}),
        "funnel_all": ("/v1/funnel", {}),
        "cohorts_all": ("/v1/cohorts", {}),
    }
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for name, (path, params) in queries.items():
            samples = []
            body: Any = None
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get(path, params=params, headers=headers)
                samples.append(time.perf_counter() - started)
                response.raise_for_status()
                body = response.json()
            results[name] = {"median_s": round(statistics.median(samples), 3), "max_s": round(max(samples), 3)}
            if name == "kpis_all":
                results["answer_excerpt"] = {k: body[k] for k in ("churned", "won_back", "winback_rate", "cost_total")}
    return results


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, help="customers (default 1,000,000; --quick 100,000)")
    parser.add_argument(
        "--orders", type=int, help="order rows, the bulk of the events (default 7.9 M; --quick 790,000)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hold", action="store_true", help="keep the database up after the run (EXPLAIN by hand)")
    args = parser.parse_args()
    customers = harness.sized(args, "customers", 1_000_000, 100_000)
    orders = harness.sized(args, "orders", 7_900_000, 790_000)
    with harness.Stack(args, "metrics") as stack:
        stack.migrate("metrics")
        load_s = asyncio.run(load(stack.dsn, customers, orders))
        harness.progress(f"loaded in {sum(load_s.values()):.0f} s")
        rebuild_s = asyncio.run(rebuild(stack.database_url))
        harness.progress(f"episodes rebuilt in {rebuild_s:.0f} s")
        base_s, rows = asyncio.run(baseline(stack.dsn, args.repeat))
        service = stack.start("metrics", profile=True)
        http = asyncio.run(time_http(service.url, args.repeat))
        parts = asyncio.run(breakdown(stack.database_url, args.repeat))
        stack.emit(
            "metrics.kpis",
            "median_s",
            http["kpis_all"]["median_s"],
            "s",
            baseline=base_s,
            conditions={
                "customers": customers,
                "fact_rows": rows,
                "http": http,
                "kpis_breakdown_in_process_s": parts,
                "load_s": {k: round(v, 1) for k, v in load_s.items()},
                "episode_rebuild_s": round(rebuild_s, 1),
                "baseline_is": "SELECT count(*) over every fact table, best of --repeat",
                "target": "< 2 s over 1,000,000 customers",
            },
        )
        if args.hold:
            harness.progress(f"holding: {stack.dsn} (Ctrl-C or SIGTERM ends)")
            threading.Event().wait()


if __name__ == "__main__":
    main()
