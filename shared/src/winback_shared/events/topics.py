"""Kafka topics of the contract; every topic is keyed by customer id."""

from enum import StrEnum


class Topic(StrEnum):
    INBOUND = "winback.inbound"
    EVENTS = "winback.events"
    EVENTS_DLQ = "winback.events.dlq"
    RISK = "winback.risk"
    CONSENT = "winback.consent"
    CAMPAIGN = "winback.campaign"
    ACTIONS = "winback.actions"
    # Not in the contract: where a service's consumer parks a record it could not apply
    # after its retries, so one poison record cannot stop a partition.
    DEADLETTER = "winback.deadletter"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)
