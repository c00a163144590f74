"""Event types published by the winback services themselves (spec/events.md, second table)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from winback_shared.events.envelope import CloudEvent, CustomerEventData, EventData

Status = Literal["active", "at_risk", "lapsed", "churned", "won_back"]


class EventRef(EventData):
    """`(source, id)` of one event on `winback.events`: a position in the customer's history."""

    source: Annotated[str, Field(min_length=1, max_length=512)]
    id: Annotated[str, Field(min_length=1, max_length=256)]


class StatusChangedData(CustomerEventData):
    from_: Status | None = Field(default=None, alias="from")
    to: Status
    at: AwareDatetime
    reasons: list[str] = Field(default_factory=list)
    churn_reason: str | None = None
    segment: str | None = None
    value_tier: str | None = None
    winback_eligible: bool = False
    # The customer's latest event risk had applied when it decided (the trigger itself for an
    # event-caused change). Whoever acts on this change asks other services about the customer
    # only once they have applied it too: every topic is keyed and ordered per customer.
    caused_by: EventRef | None = None
    # As the same batch assessed the customer (added in v1, optional): the win-back decision's inputs.
    winback_probability: float | None = None
    risk_score: float | None = None
    # The relationship's value if retained or won back, from the behaviour before leaving (12 months).
    predicted_value_if_retained_12m: Decimal | None = None
    # Revenue and contribution margin of the 12 months before the relationship ended (or before as_of).
    revenue_12m_before_churn: Decimal | None = None
    margin_12m_before_churn: Decimal | None = None
    # Added in v1 (optional): the predicted 12-month value at the change, which metrics records.
    predicted_clv_12m: Decimal | None = None


class RiskAssessedData(CustomerEventData):
    risk_score: float
    drivers: list[dict[str, Any]] = Field(default_factory=list)
    p_alive: float | None = None
    expected_orders: float | None = None
    horizon_days: int = 90
    as_of: AwareDatetime
    # Value at the time of the assessment, so metrics can report value lost and recovered.
    predicted_clv_12m: Decimal | None = None
    value_tier: str | None = None
    # Added in v1 (optional): the rest of the assessment, and the value that decides about win-back.
    status: Status | None = None
    segment: str | None = None
    winback_probability: float | None = None
    predicted_value_if_retained_12m: Decimal | None = None
    revenue_12m_before_churn: Decimal | None = None
    margin_12m_before_churn: Decimal | None = None


class ConsentChangedData(CustomerEventData):
    channel: str
    state: Literal["granted", "revoked", "objected", "suppressed"]
    at: AwareDatetime


class CustomerErasedData(CustomerEventData):
    # When consent erased the customer (GDPR Art. 17). Every service drops what it holds about the
    # customer and ignores the customer's events with a `time` up to this moment, replays included.
    erased_at: AwareDatetime


class EnrollmentData(CustomerEventData):
    playbook_id: str
    enrollment_id: str
    variant: str | None = None
    reason: str | None = None
    # Added in v1 (optional). The control group: enrolled but never contacted, so metrics can
    # measure the uplift against it; absent means contacted as usual.
    holdout: bool | None = None
    # The playbook's version the enrolment follows (on `campaign.enrolled`).
    playbook_version: int | None = None
    # On a `won_back` exit: the last action sent, to which the return is attributed.
    attributed_action_id: str | None = None


class ActionTriggeredData(CustomerEventData):
    action_id: str
    channel: str
    template: str
    variant: str | None = None
    offer: str | None = None
    content: dict[str, Any] = Field(default_factory=dict)
    recipient: dict[str, Any] = Field(default_factory=dict)
    consent: dict[str, Any] = Field(default_factory=dict)
    due_at: AwareDatetime | None = None
    playbook_id: str
    enrollment_id: str


class ActionSuppressedData(CustomerEventData):
    action_id: str
    channel: str
    reason: str
    playbook_id: str
    enrollment_id: str
    # Added in v1 (optional): what would have been sent, so suppressions count per template and variant.
    template: str | None = None
    variant: str | None = None


class CustomerStatusChanged(CloudEvent):
    TYPE = "customer.status_changed"
    type: Literal["customer.status_changed"]
    data: StatusChangedData


class CustomerRiskAssessed(CloudEvent):
    TYPE = "customer.risk_assessed"
    type: Literal["customer.risk_assessed"]
    data: RiskAssessedData


class ConsentChanged(CloudEvent):
    TYPE = "consent.changed"
    type: Literal["consent.changed"]
    data: ConsentChangedData


class CustomerErased(CloudEvent):
    TYPE = "customer.erased"
    type: Literal["customer.erased"]
    data: CustomerErasedData


class CampaignEnrolled(CloudEvent):
    TYPE = "campaign.enrolled"
    type: Literal["campaign.enrolled"]
    data: EnrollmentData


class CampaignExited(CloudEvent):
    TYPE = "campaign.exited"
    type: Literal["campaign.exited"]
    data: EnrollmentData


class ActionTriggered(CloudEvent):
    TYPE = "action.triggered"
    type: Literal["action.triggered"]
    data: ActionTriggeredData


class ActionSuppressed(CloudEvent):
    TYPE = "action.suppressed"
    type: Literal["action.suppressed"]
    data: ActionSuppressedData


PRODUCED_EVENT_CLASSES: tuple[type[CloudEvent], ...] = (
    CustomerStatusChanged,
    CustomerRiskAssessed,
    ConsentChanged,
    CampaignEnrolled,
    CampaignExited,
    ActionTriggered,
    ActionSuppressed,
    CustomerErased,
)
