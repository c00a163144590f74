"""Use cases: apply a consumed batch idempotently; answer a KPI question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_metrics.adapters.facts_repository import save_facts
from winback_metrics.adapters.kpi_repository import load_cohort
from winback_metrics.adapters.tables import processed_events
from winback_metrics.domain.cohort import CohortFilter
from winback_metrics.domain.facts import facts_of
from winback_metrics.domain.kpis import compute_kpis
from winback_shared.db.inbox import claim_unprocessed
from winback_shared.events.envelope import CloudEvent

APPLIED = Counter("winback_metrics_events_applied_total", "Events applied to the metrics facts")
DUPLICATES = Counter("winback_metrics_events_duplicate_total", "Events seen before and skipped")


async def apply_batch(
    sessions: async_sessionmaker[AsyncSession],
    events: Sequence[CloudEvent],
    *,
    channel_costs: Mapping[str, Decimal],
    default_cost: Decimal,
) -> int:
    """Apply the events not applied before, in one transaction; returns how many were new."""
    async with sessions.begin() as session:
        fresh = await claim_unprocessed(session, processed_events, events)
        await save_facts(session, facts_of(fresh, channel_costs, default_cost))
    APPLIED.inc(len(fresh))
    DUPLICATES.inc(len(events) - len(fresh))
    return len(fresh)


async def kpis(sessions: async_sessionmaker[AsyncSession], cohort: CohortFilter, now: datetime) -> dict[str, Any]:
    """The KPIs of one churn cohort, read from one consistent snapshot."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        episodes, tallies = await load_cohort(session, cohort)
    return compute_kpis(episodes, tallies, now)
