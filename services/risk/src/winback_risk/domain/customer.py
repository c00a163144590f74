"""What risk knows about one customer: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Status = Literal["active", "at_risk", "lapsed", "churned", "won_back"]
STATUSES: tuple[Status, ...] = ("active", "at_risk", "lapsed", "churned", "won_back")

UNKNOWN_REASON = "unknown"


@dataclass(slots=True)
class CustomerState:
    """The per-customer state the consumer folds events into (one row of `risk.customers`).

    `status` is None only for a customer not seen before; `status_since` is the event time at
    which the current status began. `last_return_at` is the latest order, renewal or contract
    start: the facts that end a churn.
    """

    customer_id: str
    kind: str = "consumer"
    status: Status | None = None
    status_since: datetime | None = None
    churn_reason: str | None = None
    churn_evidence: dict[str, Any] | None = None
    winback_eligible: bool = True
    churn_count: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)
    first_seen_at: datetime | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_return_at: datetime | None = None
    churned_at: datetime | None = None
    won_back_at: datetime | None = None
    last_event_time: datetime | None = None
    # Filled by the scoring model later; kept here so the table and filters already exist.
    risk_score: float | None = None
    segment: str | None = None
    value_tier: str | None = None
    p_alive: float | None = None
    winback_probability: float | None = None
    assessed_at: datetime | None = None
    # Days from the start of the churn (or lapse) to the return that ended it; the latest win-back.
    days_to_winback: float | None = None
    # `(source, id)` of the customer's latest event applied (in topic order): the position a status
    # change names as `caused_by`, so its readers wait until they have applied it too.
    last_event_source: str | None = None
    last_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One lifecycle transition, published as `customer.status_changed`."""

    customer_id: str
    from_status: Status | None
    to_status: Status
    at: datetime
    reasons: tuple[str, ...]
    churn_reason: str | None
    winback_eligible: bool
    segment: str | None = None
    value_tier: str | None = None
    # `(source, id)` of the event that caused the change; makes the published id deterministic.
    trigger: tuple[str, str] = field(default=("", ""))
    # As the batch's final assessment found them (service_layer/assessment.as_assessed).
    winback_probability: float | None = None
    risk_score: float | None = None
    predicted_value_if_retained_12m: float | None = None
    revenue_12m_before_churn: Decimal | None = None
    margin_12m_before_churn: Decimal | None = None
