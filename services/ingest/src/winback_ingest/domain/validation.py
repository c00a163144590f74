"""Validation of incoming events: every problem reported with index, id, field and message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.registry import INBOUND_TYPES, parse_event


@dataclass(frozen=True, slots=True)
class EventError:
    index: int
    id: str | None
    field: str
    message: str
    # Machine-readable error type (pydantic's, or ours): the label of the rejection counter.
    kind: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "field": self.field, "message": self.message}


def _field_path(loc: tuple[int | str, ...]) -> str:
    # Drop the union tag pydantic inserts (e.g. "order.placed") so paths read `data.amount`.
    parts = [str(p) for p in loc]
    if parts and "." in parts[0] and parts[0] in INBOUND_TYPES | {"customer.status_changed"}:
        parts = parts[1:]
    return ".".join(parts)


def validate_event(index: int, raw: Any, context: dict[str, Any] | None = None) -> CloudEvent | list[EventError]:
    """Validate one decoded JSON value as an event other systems may publish.

    The shared rule of `winback_shared.validation` applies (text, times); `context` carries the
    latest acceptable event time (`envelope.not_after`).
    """
    if not isinstance(raw, dict):
        return [EventError(index, None, "", "an event must be a JSON object", "not_an_object")]
    event_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    event_type = raw.get("type")
    if isinstance(event_type, str) and event_type not in INBOUND_TYPES:
        allowed = ", ".join(sorted(INBOUND_TYPES))
        return [
            EventError(
                index,
                event_id,
                "type",
                f"unknown or not accepted event type {event_type!r}; one of: {allowed}",
                "unknown_type",
            )
        ]
    try:
        return parse_event(raw, context=context)
    except ValidationError as exc:
        return [
            # A missing or odd `type` fails the union itself, at the event's root: name the field.
            EventError(index, event_id, _field_path(tuple(err["loc"])) or "type", err["msg"], err["type"])
            if err["type"].startswith("union_tag")
            else EventError(index, event_id, _field_path(tuple(err["loc"])), err["msg"], err["type"])
            for err in exc.errors(include_url=False)
        ]


def validate_batch(
    items: list[Any], context: dict[str, Any] | None = None
) -> tuple[list[CloudEvent], list[EventError]]:
    events: list[CloudEvent] = []
    errors: list[EventError] = []
    for index, raw in enumerate(items):
        result = validate_event(index, raw, context)
        if isinstance(result, list):
            errors.extend(result)
        else:
            events.append(result)
    return events, errors
