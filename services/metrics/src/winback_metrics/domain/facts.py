"""Turning consumed events into the facts the KPIs are computed from (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
)
from winback_shared.events.produced import (
    ActionSuppressed,
    ActionTriggered,
    CampaignEnrolled,
    CampaignExited,
    CustomerRiskAssessed,
    CustomerStatusChanged,
)


@dataclass(frozen=True, slots=True)
class Churn:
    customer_id: str
    churned_at: datetime
    churn_reason: str | None
    winback_eligible: bool
    segment: str | None
    value_tier: str | None


@dataclass(frozen=True, slots=True)
class Return:
    customer_id: str
    returned_at: datetime


@dataclass(frozen=True, slots=True)
class Action:
    action_id: str
    customer_id: str
    status: str
    channel: str
    template: str | None
    variant: str | None
    reason: str | None
    playbook_id: str
    enrollment_id: str
    cost: Decimal
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Enrollment:
    enrollment_id: str
    customer_id: str
    playbook_id: str
    variant: str | None
    reason: str | None
    at: datetime
    holdout: bool = False


@dataclass(frozen=True, slots=True)
class Order:
    customer_id: str
    order_id: str
    placed_at: datetime
    amount: Decimal
    margin: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderReturn:
    fact_key: str
    customer_id: str
    order_id: str
    returned_at: datetime
    amount: Decimal | None


@dataclass(frozen=True, slots=True)
class Survey:
    fact_key: str
    customer_id: str
    survey: str
    score: int
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class Response:
    action_id: str
    outcome: str
    customer_id: str
    responded_at: datetime


@dataclass(frozen=True, slots=True)
class Cancellation:
    fact_key: str
    customer_id: str
    cancelled_at: datetime
    reason_code: str | None
    reason_text: str | None


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """A contract's start (with its monthly value), renewal or cancellation: what its payments follow from.

    `kind` is winback_shared.contracts' (`contract_started`, ...); `ends_on` the end date of a start or
    renewal, the effective date of a cancellation.
    """

    fact_key: str
    customer_id: str
    contract_id: str
    kind: str
    at: datetime
    monthly_value: Decimal | None
    ends_on: date | None

    # The names winback_shared.contracts reads.
    @property
    def ref(self) -> str:
        return self.contract_id

    @property
    def amount(self) -> Decimal | None:
        return self.monthly_value


@dataclass(frozen=True, slots=True)
class CustomerValue:
    customer_id: str
    at: datetime
    clv_12m: Decimal


@dataclass(slots=True)
class Facts:
    churns: list[Churn] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    enrolled: list[Enrollment] = field(default_factory=list)
    exited: list[Enrollment] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    order_returns: list[OrderReturn] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    cancellations: list[Cancellation] = field(default_factory=list)
    values: list[CustomerValue] = field(default_factory=list)
    contracts: list[ContractEvent] = field(default_factory=list)

    def customer_ids(self) -> set[str]:
        """Customers whose episode roll-ups this batch may change."""
        ids: set[str] = set()
        for items in (self.churns, self.returns, self.actions, self.enrolled, self.exited, self.orders):
            ids.update(item.customer_id for item in items)
        for others in (self.order_returns, self.surveys, self.responses, self.cancellations, self.values):
            ids.update(item.customer_id for item in others)
        return ids

    def contract_customer_ids(self) -> set[str]:
        """Customers whose contract runs this batch may change."""
        return {c.customer_id for c in self.contracts}


# Statuses of a customer who has left: their value is the relationship's, not the remainder.
LEFT = frozenset({"churned", "lapsed"})


def action_cost(channel: str, costs: Mapping[str, Decimal], default: Decimal) -> Decimal:
    """What sending one action on `channel` costs; suppressed actions are never priced."""
    return costs.get(channel, default)


def finite(value: Decimal | None) -> Decimal | None:
    """The predicted 12-month value risk sent, if it is a finite amount."""
    return value if value is not None and value.is_finite() else None


def value_at(status: str | None, if_retained: Decimal | None, expected: Decimal | None) -> Decimal | None:
    """The 12-month value a churn is measured by: for a customer who left, the relationship's value.

    Risk's `predicted_clv_12m` of a churned or lapsed customer is what is expected *after* leaving
    (near zero by definition); the value lost and the value to win back is
    `predicted_value_if_retained_12m`, from the behaviour before leaving.
    """
    if status in LEFT and finite(if_retained) is not None:
        return if_retained
    return finite(expected)


def _inbound_facts(event: CloudEvent, facts: Facts) -> None:
    if isinstance(event, OrderPlaced):
        o = event.data
        # Amounts are in the order's currency; metrics assumes one currency (EUR) throughout.
        # Keyed by (customer, order id): the first version stored stands (facts_repository).
        facts.orders.append(Order(o.customer_id, o.order_id, event.time, o.amount, o.margin))
    elif isinstance(event, OrderReturned):
        r = event.data
        # A return within its order (keys.return_key): the same return re-sent is one return.
        key = keys.scoped(r.customer_id, keys.scoped(r.order_id, keys.return_key(event)))
        facts.order_returns.append(OrderReturn(key, r.customer_id, r.order_id, event.time, r.amount))
    elif isinstance(event, SurveyAnswered):
        v = event.data
        key = keys.scoped(v.customer_id, keys.survey_key(event))
        facts.surveys.append(Survey(key, v.customer_id, v.survey, v.score, event.time))
    elif isinstance(event, CampaignResponse):
        c = event.data
        facts.responses.append(Response(c.action_id, c.outcome, c.customer_id, event.time))
    elif isinstance(event, ContractCancelled):
        k = event.data
        code = None if k.reason_code is None else k.reason_code.value
        key = keys.scoped(k.customer_id, keys.contract_key(event))
        facts.cancellations.append(Cancellation(key, k.customer_id, event.time, code, k.reason_text))
        facts.contracts.append(
            ContractEvent(
                key, k.customer_id, k.contract_id, "contract_cancelled", event.time, None, day_of(k.effective_date)
            )
        )
    elif isinstance(event, ContractStarted):
        d = event.data
        key = keys.scoped(d.customer_id, keys.contract_key(event))
        facts.contracts.append(
            ContractEvent(
                key, d.customer_id, d.contract_id, "contract_started", event.time, d.monthly_value, day_of(d.end_date)
            )
        )
    elif isinstance(event, ContractRenewed):
        n = event.data
        key = keys.scoped(n.customer_id, keys.contract_key(event))
        facts.contracts.append(
            ContractEvent(key, n.customer_id, n.contract_id, "contract_renewed", event.time, None, day_of(n.end_date))
        )


def facts_of(events: Sequence[CloudEvent], costs: Mapping[str, Decimal], default_cost: Decimal) -> Facts:
    """Sort a batch into facts; event types metrics does not measure are skipped."""
    facts = Facts()
    for event in events:
        if isinstance(event, CustomerStatusChanged):
            d = event.data
            value = value_at(d.to, d.predicted_value_if_retained_12m, d.predicted_clv_12m)
            if value is not None:
                facts.values.append(CustomerValue(d.customer_id, d.at, value))
            if d.to == "churned":
                facts.churns.append(
                    Churn(d.customer_id, d.at, d.churn_reason, d.winback_eligible, d.segment, d.value_tier)
                )
            elif d.to == "won_back":
                facts.returns.append(Return(d.customer_id, d.at))
        elif isinstance(event, ActionTriggered):
            t = event.data
            facts.actions.append(
                Action(
                    t.action_id,
                    t.customer_id,
                    "triggered",
                    t.channel,
                    t.template,
                    t.variant,
                    None,
                    t.playbook_id,
                    t.enrollment_id,
                    action_cost(t.channel, costs, default_cost),
                    event.time,
                )
            )
        elif isinstance(event, ActionSuppressed):
            s = event.data
            facts.actions.append(
                Action(
                    s.action_id,
                    s.customer_id,
                    "suppressed",
                    s.channel,
                    s.template,
                    s.variant,
                    s.reason,
                    s.playbook_id,
                    s.enrollment_id,
                    Decimal("0"),
                    event.time,
                )
            )
        elif isinstance(event, CampaignEnrolled | CampaignExited):
            e = event.data
            target = facts.enrolled if isinstance(event, CampaignEnrolled) else facts.exited
            # The control group (enrolled, never contacted); absent means contacted as usual.
            holdout = e.holdout is True
            target.append(
                Enrollment(e.enrollment_id, e.customer_id, e.playbook_id, e.variant, e.reason, event.time, holdout)
            )
        elif isinstance(event, CustomerRiskAssessed):
            a = event.data
            value = value_at(a.status, a.predicted_value_if_retained_12m, a.predicted_clv_12m)
            if value is not None:
                facts.values.append(CustomerValue(a.customer_id, a.as_of, value))
        else:
            _inbound_facts(event, facts)
    return facts
