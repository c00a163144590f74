"""The narrow per-customer facts risk keeps to score at any `as_of` (pure extraction from events)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from winback_shared.contracts import day_of
from winback_shared.events import keys
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import (
    CampaignResponse,
    ContractCancelled,
    ContractRenewed,
    ContractStarted,
    OrderPlaced,
    OrderReturned,
    SurveyAnswered,
    TicketOpened,
    TicketResolved,
    UsageReported,
)

# Campaign outcomes that mean a marketing contact reached the customer.
CONTACT_OUTCOMES = frozenset({"delivered", "opened", "clicked", "replied", "reached", "complained", "unsubscribed"})


@dataclass(frozen=True, slots=True)
class OrderFact:
    customer_id: str
    order_id: str
    ordered_at: datetime
    amount: Decimal
    margin: Decimal | None


@dataclass(frozen=True, slots=True)
class Signal:
    """One early-warning fact: kind, a reference (ticket, contract, metric...), a number, a label.

    `amount` is money (a contract's monthly value, a return's amount), exact; `ends_on` a
    contract's end (the end date of a start or renewal, the effective date of a cancellation).
    """

    customer_id: str
    at: datetime
    kind: str
    ref: str | None = None
    value: float | None = None
    label: str | None = None
    amount: Decimal | None = None
    ends_on: date | None = None
    # The fact's business key within the customer and kind (winback_shared.events.keys): the
    # same ticket, return, contract event or answer sent again with a new event id is one signal.
    key: str | None = None


FactKey = tuple[str, str, str]


def fact_key(event: CloudEvent) -> FactKey | None:
    """(kind, customer, business key) of the fact an event states; None when it states none risk keeps."""
    if isinstance(event, OrderPlaced):
        return ("order", event.data.customer_id, event.data.order_id)
    signal = signal_of(event)
    if signal is None or signal.key is None:
        return None
    return (signal.kind, signal.customer_id, signal.key)


def facts_of_batch(events: Iterable[CloudEvent]) -> tuple[list[OrderFact], list[Signal]]:
    """The orders and the signals of a batch, in event order, the first of each business key only."""
    orders: list[OrderFact] = []
    signals: list[Signal] = []
    seen: set[FactKey] = set()
    for event in events:
        if isinstance(event, OrderPlaced):
            d = event.data
            key: FactKey = ("order", d.customer_id, d.order_id)
            if key not in seen:
                seen.add(key)
                orders.append(OrderFact(d.customer_id, d.order_id, event.time, d.amount, d.margin))
        elif (signal := signal_of(event)) is not None:
            if signal.key is None:
                signals.append(signal)
            elif (key := (signal.kind, signal.customer_id, signal.key)) not in seen:
                seen.add(key)
                signals.append(signal)
    return orders, signals


def first_statements(events: Sequence[CloudEvent], stored: set[FactKey]) -> list[CloudEvent]:
    """The events to fold: those without a business key, and the first of each key that `stored` holds.

    `stored` are the keys this batch's facts added (the insert's RETURNING): a key stored before,
    or stated again later in the batch, is the same fact once more (a re-sent order with a new
    event id, from another source, or with another amount: the first version stands).
    """
    if len(stored) == len(events):
        # The stored keys are keys of these events, at most one each: as many as there are events
        # means every event states a fact of its own, new here (a replay's usual batch). All fold.
        return list(events)
    kept: list[CloudEvent] = []
    folded: set[FactKey] = set()
    for event in events:
        key = fact_key(event)
        if key is None:
            kept.append(event)
        elif key in stored and key not in folded:
            folded.add(key)
            kept.append(event)
    return kept


def signal_of(event: CloudEvent) -> Signal | None:
    """The signal an event carries, or None when it carries none risk scores on."""
    c, t = event.customer_id or "", event.time
    match event:
        case TicketOpened(data=d):
            return Signal(c, t, "ticket_opened", d.ticket_id, label=d.category, key=keys.ticket_key(event))
        case TicketResolved(data=d):
            return Signal(c, t, "ticket_resolved", d.ticket_id, d.satisfaction, d.outcome, key=keys.ticket_key(event))
        case SurveyAnswered(data=d):
            return Signal(c, t, "survey", None, float(d.score), d.survey, key=keys.survey_key(event))
        case UsageReported(data=d):
            # Usage belongs to the end of its period when given: that is when it is known.
            at = d.period_end or t
            key = f"{d.metric}@{'' if d.period_start is None else keys.micros(d.period_start)}..{keys.micros(at)}"
            return Signal(c, at, "usage", d.metric, d.value, key=key)
        case ContractStarted(data=d):
            return Signal(
                c, t, "contract_started", d.contract_id, label=d.end_date, amount=d.monthly_value,
                ends_on=day_of(d.end_date), key=keys.contract_key(event),
            )  # fmt: skip
        case ContractRenewed(data=d):
            return Signal(
                c, t, "contract_renewed", d.contract_id, label=d.end_date, ends_on=day_of(d.end_date),
                key=keys.contract_key(event),
            )  # fmt: skip
        case ContractCancelled(data=d):
            reason = d.reason_code.value if d.reason_code else None
            return Signal(
                c, t, "contract_cancelled", d.contract_id, label=reason, ends_on=day_of(d.effective_date),
                key=keys.contract_key(event),
            )  # fmt: skip
        case OrderReturned(data=d):
            value = float(d.amount) if d.amount is not None else None
            return Signal(
                c, t, "return", d.order_id, value, amount=d.amount, key=keys.scoped(d.order_id, keys.return_key(event))
            )
        case CampaignResponse(data=d) if d.outcome in CONTACT_OUTCOMES:
            return Signal(c, t, "contact", d.action_id, label=d.outcome, key=f"{d.action_id}:{d.outcome}")
    return None
