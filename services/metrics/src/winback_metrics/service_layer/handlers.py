"""Use cases: apply a consumed batch idempotently; answer KPI, cohort and funnel questions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_metrics.adapters import kpi_repository as repo
from winback_metrics.adapters.contract_runs import refresh_contract_runs
from winback_metrics.adapters.episode_refresh import refresh_episodes
from winback_metrics.adapters.erasure import anonymise_customers
from winback_metrics.adapters.facts_repository import save_facts
from winback_metrics.adapters.tables import erasures, processed_events
from winback_metrics.domain.cohort import CohortFilter
from winback_metrics.domain.facts import facts_of
from winback_metrics.domain.kpis import compute_kpis, funnel, rechurn_rate, retention_shares, winback_rate
from winback_shared.db.erasures import drop_erased_history, record_erasures
from winback_shared.db.inbox import claim_unprocessed
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import CustomerErased
from winback_shared.settings import DEV_ERASURE_KEY

T = TypeVar("T")
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")

APPLIED = Counter("winback_metrics_events_applied_total", "Events applied to the metrics facts")
DUPLICATES = Counter("winback_metrics_events_duplicate_total", "Events seen before and skipped")


async def apply_batch(
    sessions: async_sessionmaker[AsyncSession],
    events: Sequence[CloudEvent],
    *,
    channel_costs: Mapping[str, Decimal],
    default_cost: Decimal,
    margin_share: Decimal = Decimal("1"),
    contract_margin_rate: Decimal = Decimal("1"),
    erasure_key: bytes = DEV_ERASURE_KEY.encode(),
) -> int:
    """Apply the events not applied before and refresh the touched episodes, in one transaction.

    `customer.erased` pseudonymises the customer (aggregates unchanged) and keeps a tombstone: the
    customer's events dated up to the erasure are ignored from then on, replays included.
    """
    erased = [(e.data.customer_id, e.data.erased_at) for e in events if isinstance(e, CustomerErased)]
    async with sessions.begin() as session:
        if erased:
            await record_erasures(session, erasures, erasure_key, erased)
            await anonymise_customers(session, [c for c, _ in erased])
        claimed = await claim_unprocessed(session, processed_events, events)
        fresh = await drop_erased_history(session, erasures, erasure_key, claimed)
        facts = facts_of(fresh, channel_costs, default_cost)
        await save_facts(session, facts)
        await refresh_contract_runs(session, facts.contract_customer_ids(), contract_margin_rate)
        await refresh_episodes(session, facts.customer_ids(), margin_share=margin_share)
    APPLIED.inc(len(fresh))
    DUPLICATES.inc(len(events) - len(fresh))
    return len(fresh)


@asynccontextmanager
async def _snapshot(
    sessions: async_sessionmaker[AsyncSession], shared: str | None = None
) -> AsyncIterator[AsyncSession]:
    # Several statements, one consistent view: REPEATABLE READ pins the snapshot for all of them;
    # with `shared`, this transaction adopts another one's exported snapshot (same view, another core).
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        if shared is not None:
            if not _SNAPSHOT_ID.fullmatch(shared):
                raise ValueError(f"not a snapshot id: {shared!r}")
            await session.execute(text(f"SET TRANSACTION SNAPSHOT '{shared}'"))
        # Room for the cohort's hash aggregates in memory instead of spilling to disk.
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
        yield session


async def _in_snapshot(
    sessions: async_sessionmaker[AsyncSession], shared: str, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    async with _snapshot(sessions, shared) as session:
        return await work(session)


async def kpis(sessions: async_sessionmaker[AsyncSession], cohort: CohortFilter, now: datetime) -> dict[str, Any]:
    """The KPIs of one churn cohort: its queries run on four connections that share one snapshot."""
    async with _snapshot(sessions) as lead:
        shared = str(await lead.scalar(text("SELECT pg_export_snapshot()")))
        # The exported snapshot lives as long as the lead transaction: keep it open until all are done.
        actions, playbooks, paid, summary = await asyncio.gather(
            _in_snapshot(sessions, shared, lambda s: repo.load_actions(s, cohort)),
            _in_snapshot(sessions, shared, lambda s: repo.load_playbooks(s, cohort)),
            _in_snapshot(sessions, shared, lambda s: repo.load_contract_payments(s, cohort, now)),
            repo.load_summary(lead, cohort, now),
        )
    tallies, responses = actions
    # Orders after the return are in the summary; contract periods paid after it are added here.
    revenue, margin = paid
    summary = replace(
        summary,
        recovered_revenue=summary.recovered_revenue + revenue,
        recovered_margin=summary.recovered_margin + margin,
    )
    return compute_kpis(summary, tallies, now, responses=responses, playbooks=playbooks)


async def cohorts(sessions: async_sessionmaker[AsyncSession], cohort: CohortFilter, now: datetime) -> dict[str, Any]:
    """Retention of won-back customers by month of return, and the win-back rate by month of churn."""
    async with _snapshot(sessions) as session:
        by_return, by_churn = await repo.load_cohorts(session, cohort, now)
    return_months = []
    for month, won_back, survival in by_return:
        retention = retention_shares(survival)
        return_months.append(
            {
                "month": month,
                "won_back": won_back,
                "retention_after_winback": retention,
                "rechurn_rate": rechurn_rate(retention),
            }
        )
    churn_months = [
        {"month": m, "churned": n, "won_back": w, "winback_rate": winback_rate(w, n)} for m, n, w in by_churn
    ]
    return {"cohorts": return_months, "churn_months": churn_months}


async def funnel_of(sessions: async_sessionmaker[AsyncSession], cohort: CohortFilter, now: datetime) -> dict[str, Any]:
    """Enrolled → contacted → responded → won back for one churn cohort."""
    async with _snapshot(sessions) as session:
        summary = await repo.load_summary(session, cohort, now)
    return funnel(summary)
