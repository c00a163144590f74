"""SQL of GDPR erasure in risk: the customer's state, orders and signals are deleted."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from winback_risk.adapters.tables import customers, orders, signals, status_changes


async def delete_customers(session: AsyncSession, customer_ids: Sequence[str]) -> None:
    """Everything risk holds per customer goes: state (churn reason, evidence) and facts.

    Fitted models keep only population parameters and aggregate statistics, nothing per customer.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    for table in (signals, orders, status_changes, customers):
        await session.execute(delete(table).where(table.c.customer_id.in_(ids)))
