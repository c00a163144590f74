"""What risk's batch handlers need of storage: customer states, facts, inbox and outbox in one transaction.

`adapters/unit_of_work.py` implements it over PostgreSQL; `tests/support/risk_fakes.py` in memory,
so a batch's flow is unit-tested without a database (cosmicpython's pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from winback_risk.domain.customer import CustomerState
from winback_risk.domain.facts import FactKey, OrderFact, Signal
from winback_risk.domain.scoring import OrderSummary
from winback_shared.db.unit_of_work import UnitOfWork


class Customers(Protocol):
    """Each customer's folded state, and the highest event time applied."""

    async def load_for_update(self, customer_ids: Collection[str]) -> dict[str, CustomerState]:
        """The known customers among these, locked for this transaction (in key order)."""
        ...

    async def save(self, states: Iterable[CustomerState], now: datetime) -> None: ...
    async def ids_after(self, after: str | None, limit: int) -> list[str]:
        """A page of customer ids in key order."""
        ...

    async def advance_progress(self, event_time: datetime) -> None:
        """Raise the highest applied event time (never lowers it)."""
        ...

    async def delete(self, customer_ids: Sequence[str]) -> None:
        """State and facts of these customers (GDPR erasure)."""
        ...


class Facts(Protocol):
    """Orders and signals, each stored once by its business key."""

    async def insert_orders(self, facts: Sequence[OrderFact]) -> set[FactKey]:
        """Store the orders new to their customer; returns their keys."""
        ...

    async def insert_signals(self, facts: Sequence[Signal]) -> set[FactKey]:
        """Store the signals new to their customer; returns their keys."""
        ...

    async def order_summaries(
        self,
        customer_ids: Sequence[str],
        moments: Sequence[datetime],
        churned_at: Sequence[datetime | None],
        last_order_at: Sequence[datetime | None],
    ) -> dict[str, OrderSummary]: ...

    async def signals_of(self, customer_ids: Collection[str], as_of: datetime | None) -> dict[str, list[Signal]]: ...


class RiskUnitOfWork(UnitOfWork, Protocol):
    """One transaction of risk: its repositories besides the inbox, outbox and tombstones."""

    @property
    def customers(self) -> Customers: ...
    @property
    def facts(self) -> Facts: ...


# A new unit of work per transaction: consumer tasks apply batches concurrently.
UnitOfWorkFactory = Callable[[], RiskUnitOfWork]
