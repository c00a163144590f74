"""Each contract's runs, derived again from its stored events for the customers a batch touched.

The rule (monthly periods in advance, notices, effective dates, renewals) is winback_shared.contracts',
the one risk values relationships with; here it runs over every contract event of the customer, so
the runs do not depend on the order in which the events arrived.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_metrics.adapters.facts_repository import insert_rows
from winback_metrics.adapters.tables import contract_runs
from winback_metrics.domain.facts import ContractEvent
from winback_shared.contracts import contract_runs as runs_of

_EVENTS = text(
    "SELECT fact_key, customer_id, contract_id, kind, at, monthly_value, ends_on FROM metrics.contract_events "
    "WHERE customer_id = ANY(CAST(:ids AS varchar[]))"
)
_DROP = text("DELETE FROM metrics.contract_runs WHERE customer_id = ANY(CAST(:ids AS varchar[]))")


async def refresh_contract_runs(session: AsyncSession, customer_ids: Collection[str], margin_rate: Decimal) -> None:
    """Replace these customers' contract runs with the ones their stored events give, in the caller's transaction."""
    if not customer_ids:
        return
    ids = sorted(customer_ids)
    events: dict[str, list[ContractEvent]] = defaultdict(list)
    for row in await session.execute(_EVENTS, {"ids": ids}):
        events[row.customer_id].append(ContractEvent(*row))
    await session.execute(_DROP, {"ids": ids})
    rows = [
        {
            "customer_id": customer_id,
            "contract_id": run.contract_id,
            "started_at": run.started_at,
            "monthly_value": run.monthly_value,
            "monthly_margin": run.monthly_value * margin_rate,
            "ends_at": run.ends_at,
        }
        for customer_id, facts in events.items()
        for run in runs_of(facts)
    ]
    await insert_rows(session, contract_runs, rows, "ON CONFLICT DO NOTHING")
