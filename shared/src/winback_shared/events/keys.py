"""Business keys: which fact an event states, whatever its `(source, id)`.

`(source, id)` identifies an event, not a fact: a shop that re-sends an order with a new event
id, or a second system that forwards it, states the same order again. Facts and every total are
therefore keyed by the customer and these keys (documented in the root README, "Events"). The
first version applied of a key is the fact; later versions change nothing (a late correction
of an order's amount is sent as an `order.returned` of the difference).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import (
    ContractCancelled,
    ContractRenewed,
    ContractStarted,
    OrderReturned,
    SurveyAnswered,
    TicketOpened,
    TicketResolved,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """Unix microseconds of an aware time: exact, and what SQL computes as `extract(epoch ...) * 1e6`."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def return_key(event: OrderReturned) -> str:
    """A return within its order: the sender's `return_id` (an extra data field) when given, else its time.

    `order.returned` carries only the order id; two parts of one order returned at the same
    moment are one return unless the sender names them apart with `return_id`.
    """
    named = (event.data.model_extra or {}).get("return_id")
    if isinstance(named, str) and named:
        return f"id:{named}"
    return f"at:{micros(event.time)}"


def contract_key(event: ContractStarted | ContractRenewed | ContractCancelled) -> str:
    """A contract event: the contract id and when it happened (a contract may be renewed or cancelled again)."""
    return f"{event.data.contract_id}@{micros(event.time)}"


def ticket_key(event: TicketOpened | TicketResolved) -> str:
    """A ticket is opened once and resolved once: its id."""
    return event.data.ticket_id


def survey_key(event: SurveyAnswered) -> str:
    """An answer to one survey at one moment."""
    return f"{event.data.survey}@{micros(event.time)}"


def scoped(customer_id: str, key: str) -> str:
    """A key unique across customers as one unambiguous string (length-prefixed customer id)."""
    return f"{len(customer_id)}:{customer_id}{key}"


def event_key(event: CloudEvent) -> str:
    """The event's `(source, id)` as one unambiguous string, for facts that have no business key."""
    source, event_id = event.identity
    return scoped(source, event_id)
