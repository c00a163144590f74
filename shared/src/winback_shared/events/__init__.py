"""Typed CloudEvents of the winback event contract (spec/events.md)."""

from winback_shared.events.envelope import CloudEvent, EventData
from winback_shared.events.registry import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    Event,
    parse_event,
    parse_event_json,
)
from winback_shared.events.topics import ALL_TOPICS, Topic

__all__ = [
    "ALL_TOPICS",
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "CloudEvent",
    "Event",
    "EventData",
    "Topic",
    "parse_event",
    "parse_event_json",
]
