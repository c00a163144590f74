"""One discriminated union over every event type, and parsing helpers."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import (
    INBOUND_EVENT_CLASSES,
    CampaignResponse,
    ConsentGranted,
    ConsentRevoked,
    ContactObjected,
    ContractCancelled,
    ContractRenewed,
    ContractStarted,
    CustomerUpserted,
    FeatureReleased,
    OrderPlaced,
    OrderReturned,
    SurveyAnswered,
    TicketOpened,
    TicketResolved,
    UsageReported,
)
from winback_shared.events.produced import (
    PRODUCED_EVENT_CLASSES,
    ActionSuppressed,
    ActionTriggered,
    CampaignEnrolled,
    CampaignExited,
    ConsentChanged,
    CustomerRiskAssessed,
    CustomerStatusChanged,
)

Event = Annotated[
    Union[  # noqa: UP007 - a discriminated union needs the explicit Union form here
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
        CustomerStatusChanged,
        CustomerRiskAssessed,
        ConsentChanged,
        CampaignEnrolled,
        CampaignExited,
        ActionTriggered,
        ActionSuppressed,
    ],
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: dict[str, type[CloudEvent]] = {cls.TYPE: cls for cls in (*INBOUND_EVENT_CLASSES, *PRODUCED_EVENT_CLASSES)}
INBOUND_TYPES: frozenset[str] = frozenset(cls.TYPE for cls in INBOUND_EVENT_CLASSES)


def parse_event(raw: object) -> CloudEvent:
    """Validate a decoded JSON object into its typed event; raises pydantic.ValidationError."""
    event: CloudEvent = EVENT_ADAPTER.validate_python(raw)
    return event


def parse_event_json(raw: bytes | str) -> CloudEvent:
    """Validate JSON text into its typed event; raises pydantic.ValidationError."""
    event: CloudEvent = EVENT_ADAPTER.validate_json(raw)
    return event
