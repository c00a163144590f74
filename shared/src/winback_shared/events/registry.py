"""One discriminated union over every event type, and parsing helpers."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

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
    CustomerErased,
    CustomerRiskAssessed,
    CustomerStatusChanged,
)
from winback_shared.validation import MAX_TEXT_CHARS, text_acceptable, text_problems

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
        CustomerErased,
    ],
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: dict[str, type[CloudEvent]] = {cls.TYPE: cls for cls in (*INBOUND_EVENT_CLASSES, *PRODUCED_EVENT_CLASSES)}
INBOUND_TYPES: frozenset[str] = frozenset(cls.TYPE for cls in INBOUND_EVENT_CLASSES)


# A NUL or a surrogate can only reach a string of JSON text as a \u escape (raw ones are invalid
# JSON or invalid UTF-8): text without such an escape, and too short to hold an over-long string,
# skips the walk over every string. Escaped backslashes and valid pairs merely take the slow path.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def text_errors(raw: Any) -> ValidationError | None:
    """The shared text rule over a decoded event (every string, keys included), as a ValidationError."""
    if text_acceptable(raw):
        return None
    details = [
        InitErrorDetails(type=PydanticCustomError("text_refused", "{problem}", {"problem": problem}), loc=loc, input="")
        for loc, problem in text_problems(raw)
    ]
    return ValidationError.from_exception_data("CloudEvent", details) if details else None


def parse_event(raw: object, *, context: dict[str, Any] | None = None) -> CloudEvent:
    """Validate a decoded JSON object into its typed event; raises pydantic.ValidationError.

    `context` (see `envelope.not_after`) lets the receiving edge also refuse times from the future.
    """
    refused = text_errors(raw)
    if refused is not None:
        raise refused
    event: CloudEvent = EVENT_ADAPTER.validate_python(raw, context=context)
    return event


def parse_event_json(raw: bytes | str) -> CloudEvent:
    """Validate JSON text into its typed event, under the same rule as `parse_event`."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_TEXT_CHARS or _SUSPECT_ESCAPE.search(data):
        try:
            decoded = json.loads(data)
        except (ValueError, RecursionError):
            decoded = None  # let pydantic name the JSON error
        else:
            return parse_event(decoded)
    event: CloudEvent = EVENT_ADAPTER.validate_json(data)
    return event
