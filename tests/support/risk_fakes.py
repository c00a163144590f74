"""Risk's unit of work in memory: customer states, orders and signals, with the SQL's summaries.

Facts are kept once per business key, as the unique keys of `risk.orders` and `risk.signals` do;
the order summaries follow `facts_repository._ORDER_SUMMARIES` (occasions are distinct UTC days,
the three 365-day windows end at the moment, at the last order and at the churn).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from tests.support.fakes import FakeUnitOfWork, MessagingState, Store
from winback_risk.adapters.facts_repository import CONTRACT_KINDS, SIGNAL_LOOKBACK
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.facts import FactKey, OrderFact, Signal
from winback_risk.domain.scoring import OrderSummary

YEAR = timedelta(days=365)


@dataclass
class RiskState(MessagingState):
    customers: dict[str, CustomerState] = field(default_factory=dict)
    orders: dict[tuple[str, str], OrderFact] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    highest_event_time: datetime | None = None
    # The customer ids of each `save`, in order: a batch writes its states once.
    saves: list[list[str]] = field(default_factory=list)


class FakeCustomers:
    def __init__(self, state: RiskState) -> None:
        self._s = state

    async def load_for_update(self, customer_ids: Collection[str]) -> dict[str, CustomerState]:
        # Copies, as rows read from a table are: the handler's changes count only once saved.
        known = sorted(c for c in customer_ids if c in self._s.customers)
        return {c: dataclasses.replace(self._s.customers[c]) for c in known}

    async def save(self, states: Iterable[CustomerState], now: datetime) -> None:
        ordered = sorted(states, key=lambda s: s.customer_id)
        if ordered:
            self._s.saves.append([s.customer_id for s in ordered])
        self._s.customers.update({s.customer_id: dataclasses.replace(s) for s in ordered})

    async def ids_after(self, after: str | None, limit: int) -> list[str]:
        return sorted(c for c in self._s.customers if after is None or c > after)[:limit]

    async def advance_progress(self, event_time: datetime) -> None:
        current = self._s.highest_event_time
        self._s.highest_event_time = event_time if current is None else max(current, event_time)

    async def delete(self, customer_ids: Sequence[str]) -> None:
        gone = set(customer_ids)
        self._s.customers = {c: s for c, s in self._s.customers.items() if c not in gone}
        self._s.orders = {k: o for k, o in self._s.orders.items() if k[0] not in gone}
        self._s.signals = [s for s in self._s.signals if s.customer_id not in gone]


class FakeFacts:
    def __init__(self, state: RiskState) -> None:
        self._s = state

    async def insert_orders(self, facts: Sequence[OrderFact]) -> set[FactKey]:
        new = [f for f in facts if (f.customer_id, f.order_id) not in self._s.orders]
        self._s.orders.update({(f.customer_id, f.order_id): f for f in new})
        return {("order", f.customer_id, f.order_id) for f in new}

    async def insert_signals(self, facts: Sequence[Signal]) -> set[FactKey]:
        stored = {(s.customer_id, s.kind, s.key) for s in self._s.signals if s.key is not None}
        new = [s for s in facts if s.key is None or (s.customer_id, s.kind, s.key) not in stored]
        self._s.signals.extend(new)
        return {(s.kind, s.customer_id, s.key) for s in new if s.key is not None}

    async def order_summaries(
        self,
        customer_ids: Sequence[str],
        moments: Sequence[datetime],
        churned_at: Sequence[datetime | None],
        last_order_at: Sequence[datetime | None],
    ) -> dict[str, OrderSummary]:
        out = {}
        for customer_id, moment, churned, last in zip(customer_ids, moments, churned_at, last_order_at, strict=True):
            orders = [o for o in self._s.orders.values() if o.customer_id == customer_id and o.ordered_at <= moment]
            if orders:
                out[customer_id] = _summary(orders, moment, churned, last)
        return out

    async def signals_of(self, customer_ids: Collection[str], as_of: datetime | None) -> dict[str, list[Signal]]:
        out: dict[str, list[Signal]] = {}
        for s in sorted(self._s.signals, key=lambda s: (s.customer_id, s.at)):
            recent = as_of is None or (s.at <= as_of and (s.at > as_of - SIGNAL_LOOKBACK or s.kind in CONTRACT_KINDS))
            if s.customer_id in customer_ids and recent:
                # The table's columns, without the business key (as the SQL reads them).
                out.setdefault(s.customer_id, []).append(dataclasses.replace(s, key=None))
        return out


def _summary(
    orders: list[OrderFact], moment: datetime, churned: datetime | None, last: datetime | None
) -> OrderSummary:
    days = sorted({o.ordered_at.astimezone(UTC).date() for o in orders})
    last_year = (last or max(o.ordered_at for o in orders)) - YEAR

    def window(after: datetime | None, until: datetime | None = None) -> tuple[Decimal, Decimal]:
        inside = [
            o for o in orders if after is not None and o.ordered_at > after and (until is None or o.ordered_at <= until)
        ]
        return sum((o.amount for o in inside), Decimal(0)), sum((o.margin or Decimal(0) for o in inside), Decimal(0))

    return OrderSummary(
        len(days),
        len(orders),
        min(o.ordered_at for o in orders),
        max(o.ordered_at for o in orders),
        datetime.combine(days[0], time.min, tzinfo=UTC),
        datetime.combine(days[-1], time.min, tzinfo=UTC),
        sum((o.amount for o in orders), Decimal(0)),
        sum((o.margin or Decimal(0) for o in orders), Decimal(0)),
        any(o.margin is not None for o in orders),
        *window(moment - YEAR),
        *window(last_year),
        *window(None if churned is None else churned - YEAR, churned),
    )


class FakeRiskUnitOfWork(FakeUnitOfWork[RiskState]):
    def _bind(self, work: RiskState) -> None:
        self.customers = FakeCustomers(work)
        self.facts = FakeFacts(work)


def risk_store() -> Store[RiskState]:
    return Store(RiskState())
