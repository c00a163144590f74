"""Event types published by other systems through ingest (spec/events.md, first table)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel as _Base
from pydantic import ConfigDict, Field, model_validator

from winback_shared.events.envelope import (
    CloudEvent,
    CustomerEventData,
    CustomerId,
    EventData,
    NonEmpty,
    Timestamp,
)

Amount = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=18, decimal_places=6)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    MESSENGER = "messenger"
    PHONE = "phone"
    FAX = "fax"
    AUTOMATED_CALL = "automated_call"
    POST = "post"


class ReasonCode(StrEnum):
    PRICE = "price"
    BUDGET = "budget"
    COMPETITOR = "competitor"
    FEATURE_GAP = "feature_gap"
    QUALITY = "quality"
    SERVICE = "service"
    LOW_USAGE = "low_usage"
    MOVED = "moved"
    LIFE_CHANGE = "life_change"
    NO_NEED = "no_need"
    COMPANY_INITIATED = "company_initiated"
    INSOLVENCY = "insolvency"
    FRAUD = "fraud"
    OTHER = "other"


class PostalAddress(_Base):
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None


class CustomerUpsertedData(CustomerEventData):
    kind: Literal["consumer", "business"] = "consumer"
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    fax: str | None = None
    postal_address: PostalAddress | None = None
    language: str | None = None
    account_manager: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class OrderPlacedData(CustomerEventData):
    order_id: NonEmpty
    amount: Amount
    currency: Currency = "EUR"
    margin: Amount | None = None
    category: str | None = None
    items: list[Any] = Field(default_factory=list)


class OrderReturnedData(CustomerEventData):
    order_id: NonEmpty
    amount: Amount | None = None


class ContractStartedData(CustomerEventData):
    contract_id: NonEmpty
    product: str | None = None
    monthly_value: Amount | None = None
    end_date: str | None = None


class ContractRenewedData(CustomerEventData):
    contract_id: NonEmpty
    end_date: str | None = None


class ContractCancelledData(CustomerEventData):
    contract_id: NonEmpty
    effective_date: str | None = None
    reason_code: ReasonCode | None = None
    reason_text: str | None = None
    competitor: str | None = None
    no_contact_requested: bool = False


class UsageReportedData(CustomerEventData):
    metric: NonEmpty
    value: Annotated[float, Field(allow_inf_nan=False)]
    period_start: Timestamp | None = None
    period_end: Timestamp | None = None


class TicketOpenedData(CustomerEventData):
    ticket_id: NonEmpty
    category: Literal["complaint", "technical", "billing", "delivery", "other"] = "other"
    priority: str | None = None


class TicketResolvedData(CustomerEventData):
    ticket_id: NonEmpty
    outcome: Literal["solved", "unsolved"] | None = None
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None


SURVEY_SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def _survey_scales_schema(schema: dict[str, Any]) -> None:
    # The generated JSON Schema states the per-survey scale the validator below enforces.
    schema["allOf"] = [
        {
            "if": {"properties": {"survey": {"const": kind}}, "required": ["survey"]},
            "then": {"properties": {"score": {"minimum": low, "maximum": high}}},
        }
        for kind, (low, high) in SURVEY_SCALES.items()
    ]


class SurveyAnsweredData(CustomerEventData):
    model_config = ConfigDict(json_schema_extra=_survey_scales_schema)

    survey: Literal["nps", "csat", "ces"]
    score: int
    comment: str | None = None

    @model_validator(mode="after")
    def _score_on_scale(self) -> SurveyAnsweredData:
        low, high = SURVEY_SCALES[self.survey]
        if not low <= self.score <= high:
            raise ValueError(f"score {self.score} outside the {self.survey} scale {low}-{high}")
        return self


class ConsentGrantedData(CustomerEventData):
    channel: Channel
    kind: Literal["express", "existing_customer_notice", "presumed_b2b"]
    purpose: str = "marketing"
    method: Literal["double_opt_in", "written", "recorded_call", "web_form"] | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    categories: list[str] = Field(default_factory=list)


class ConsentRevokedData(CustomerEventData):
    channel: Channel
    purpose: str = "marketing"


class ContactObjectedData(CustomerEventData):
    channels: Annotated[list[Channel | Literal["all"]], Field(min_length=1)]
    note: str | None = None


class CampaignResponseData(CustomerEventData):
    action_id: NonEmpty
    outcome: Literal[
        "delivered",
        "bounced",
        "opened",
        "clicked",
        "replied",
        "unsubscribed",
        "complained",
        "reached",
        "not_reached",
    ]


class FeatureReleasedData(EventData):
    feature: NonEmpty
    tags: list[str] = Field(default_factory=list)


class CustomerUpserted(CloudEvent):
    TYPE = "customer.upserted"
    type: Literal["customer.upserted"]
    data: CustomerUpsertedData


class OrderPlaced(CloudEvent):
    TYPE = "order.placed"
    type: Literal["order.placed"]
    data: OrderPlacedData


class OrderReturned(CloudEvent):
    TYPE = "order.returned"
    type: Literal["order.returned"]
    data: OrderReturnedData


class ContractStarted(CloudEvent):
    TYPE = "contract.started"
    type: Literal["contract.started"]
    data: ContractStartedData


class ContractRenewed(CloudEvent):
    TYPE = "contract.renewed"
    type: Literal["contract.renewed"]
    data: ContractRenewedData


class ContractCancelled(CloudEvent):
    TYPE = "contract.cancelled"
    type: Literal["contract.cancelled"]
    data: ContractCancelledData


class UsageReported(CloudEvent):
    TYPE = "usage.reported"
    type: Literal["usage.reported"]
    data: UsageReportedData


class TicketOpened(CloudEvent):
    TYPE = "ticket.opened"
    type: Literal["ticket.opened"]
    data: TicketOpenedData


class TicketResolved(CloudEvent):
    TYPE = "ticket.resolved"
    type: Literal["ticket.resolved"]
    data: TicketResolvedData


class SurveyAnswered(CloudEvent):
    TYPE = "survey.answered"
    type: Literal["survey.answered"]
    data: SurveyAnsweredData


class ConsentGranted(CloudEvent):
    TYPE = "consent.granted"
    type: Literal["consent.granted"]
    data: ConsentGrantedData


class ConsentRevoked(CloudEvent):
    TYPE = "consent.revoked"
    type: Literal["consent.revoked"]
    data: ConsentRevokedData


class ContactObjected(CloudEvent):
    TYPE = "contact.objected"
    type: Literal["contact.objected"]
    data: ContactObjectedData


class CampaignResponse(CloudEvent):
    TYPE = "campaign.response"
    type: Literal["campaign.response"]
    data: CampaignResponseData


class FeatureReleased(CloudEvent):
    TYPE = "product.feature_released"
    type: Literal["product.feature_released"]
    data: FeatureReleasedData


INBOUND_EVENT_CLASSES: tuple[type[CloudEvent], ...] = (
    CustomerUpserted,
    OrderPlaced,
    OrderReturned,
    ContractStarted,
    ContractRenewed,
    ContractCancelled,
    UsageReported,
    TicketOpened,
    TicketResolved,
    SurveyAnswered,
    ConsentGranted,
    ConsentRevoked,
    ContactObjected,
    CampaignResponse,
    FeatureReleased,
)

__all__ = ["CustomerId"]
