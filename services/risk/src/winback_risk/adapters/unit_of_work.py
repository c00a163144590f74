"""Risk's unit of work over PostgreSQL: the repository modules bound to one session.

Each method is one call of the statement it names, so a batch runs the same SQL in the same
number of round trips as when the handler called the modules with a session itself
(bench/risk/handler.py's digests and rates are the check).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import erasure, facts_repository, repository
from winback_risk.adapters.tables import erasures, outbox, processed_events
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.facts import FactKey, OrderFact, Signal
from winback_risk.domain.scoring import OrderSummary
from winback_shared.db.unit_of_work import SessionUnitOfWork
from winback_shared.settings import DEV_ERASURE_KEY


class SqlCustomers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def load_for_update(self, customer_ids: Collection[str]) -> dict[str, CustomerState]:
        return await repository.load_for_update(self._session, customer_ids)

    async def save(self, states: Iterable[CustomerState], now: datetime) -> None:
        await repository.save(self._session, states, now)

    async def ids_after(self, after: str | None, limit: int) -> list[str]:
        return await facts_repository.customer_ids_after(self._session, after, limit)

    async def advance_progress(self, event_time: datetime) -> None:
        await repository.advance_progress(self._session, event_time)

    async def delete(self, customer_ids: Sequence[str]) -> None:
        await erasure.delete_customers(self._session, customer_ids)


class SqlFacts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def insert_orders(self, facts: Sequence[OrderFact]) -> set[FactKey]:
        return await facts_repository.insert_orders(self._session, facts)

    async def insert_signals(self, facts: Sequence[Signal]) -> set[FactKey]:
        return await facts_repository.insert_signals(self._session, facts)

    async def order_summaries(
        self,
        customer_ids: Sequence[str],
        moments: Sequence[datetime],
        churned_at: Sequence[datetime | None],
        last_order_at: Sequence[datetime | None],
    ) -> dict[str, OrderSummary]:
        return await facts_repository.order_summaries(self._session, customer_ids, moments, churned_at, last_order_at)

    async def signals_of(self, customer_ids: Collection[str], as_of: datetime | None) -> dict[str, list[Signal]]:
        return await facts_repository.signals_of(self._session, customer_ids, as_of)


class SqlUnitOfWork(SessionUnitOfWork):
    """`RiskUnitOfWork` over risk's schema; `erasure_key` hashes the tombstones' customer ids."""

    customers: SqlCustomers
    facts: SqlFacts

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], erasure_key: bytes = DEV_ERASURE_KEY.encode()
    ) -> None:
        super().__init__(sessions, inbox=processed_events, outbox=outbox, erasures=erasures, erasure_key=erasure_key)

    async def _bind(self, session: AsyncSession) -> None:
        # First statement of every transaction, as the handlers ran it before (see `plan_per_batch`).
        await repository.plan_per_batch(session)
        self.customers = SqlCustomers(session)
        self.facts = SqlFacts(session)
