"""SQL of GDPR erasure in metrics: the customer id becomes a random pseudonym, free texts are deleted.

Counts, sums and cohorts stay exactly as they were (anonymised aggregates): every fact keeps its
row, only the id that names the person is replaced, with one pseudonym per erased customer so
"one customer" stays one customer in the KPIs. The pseudonym is random, not derived from the id:
nobody, holding the id or not, can link the rows back to the person.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Every metrics table with a customer_id column (adapters/tables.py).
TABLES_WITH_CUSTOMER = (
    "churn_episodes",
    "returns",
    "actions",
    "enrollments",
    "orders",
    "order_returns",
    "surveys",
    "responses",
    "cancellations",
    "customer_values",
    "contract_events",
    "contract_runs",
)
# The free texts a customer wrote: deleted, not kept under the pseudonym.
FREE_TEXTS = (("churn_episodes", "cancel_text"), ("cancellations", "reason_text"))
PSEUDONYM_PREFIX = "erased-"


def pseudonym() -> str:
    """A fresh random stand-in for an erased customer's id."""
    return f"{PSEUDONYM_PREFIX}{uuid.uuid4().hex}"


async def anonymise_customers(session: AsyncSession, customer_ids: Sequence[str]) -> None:
    """Free texts deleted and the id replaced by a random pseudonym in every table (idempotent)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    params = {"ids": ids}
    for table, column in FREE_TEXTS:
        await session.execute(
            text(f"UPDATE metrics.{table} SET {column} = NULL WHERE customer_id = ANY(CAST(:ids AS varchar[]))"),
            params,
        )
    mapping = {"ids": ids, "pseudonyms": [pseudonym() for _ in ids]}
    for table in TABLES_WITH_CUSTOMER:
        await session.execute(
            text(
                f"UPDATE metrics.{table} AS t SET customer_id = m.pseudonym "
                "FROM unnest(CAST(:ids AS varchar[]), CAST(:pseudonyms AS varchar[])) AS m(id, pseudonym) "
                "WHERE t.customer_id = m.id"
            ),
            mapping,
        )
