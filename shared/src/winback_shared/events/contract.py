"""What each service consumes and produces: the one source for subscriptions, published topics and docs.

A service declares a `ServiceContract` in its `contract` module and registers it under the
`winback.contracts` entry point. Its bootstrap subscribes to `consumed_topics`, its outbox
messages take their topic from `message()` (which refuses a type the service did not declare),
and `make schemas` generates the AsyncAPI document and the README's topic table from every
registered contract plus the parties outside winback below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from winback_shared.db.outbox import OutboxMessage
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.registry import EVENT_TYPES, INBOUND_TYPES
from winback_shared.events.topics import Topic

ENTRY_POINT_GROUP = "winback.contracts"
# Topics whose records are kept as they were consumed (no event type of their own).
REJECTED_TOPICS = frozenset({Topic.EVENTS_DLQ, Topic.DEADLETTER})
INBOUND = tuple(sorted(INBOUND_TYPES))


class UndeclaredEvent(LookupError):
    """A service tried to publish an event type its contract does not declare."""


@dataclass(frozen=True)
class ServiceContract:
    """Topics and event types one party reads (`consumes`) and writes (`produces`).

    `consumes` names the types the service acts on; every record of a subscribed topic is still
    recorded as applied, unless the service's consumer skips the others (`consumed_types`), which
    only one that answers no "have you applied event X?" question may do (metrics). A party
    without `group_id` is outside winback (documented, not run).
    """

    name: str
    consumes: Mapping[Topic, tuple[str, ...]] = field(default_factory=dict)
    produces: Mapping[Topic, tuple[str, ...]] = field(default_factory=dict)
    group_id: str | None = None

    def __post_init__(self) -> None:
        for topic, types in (*self.consumes.items(), *self.produces.items()):
            unknown = [t for t in types if t not in EVENT_TYPES]
            if unknown:
                raise ValueError(f"{self.name}: unknown event types {unknown} on {topic.value}")
            if topic in REJECTED_TOPICS and types:
                raise ValueError(f"{self.name}: {topic.value} carries rejected records, not event types")
        seen: dict[str, Topic] = {}
        for topic, types in self.produces.items():
            for event_type in types:
                if seen.setdefault(event_type, topic) is not topic:
                    raise ValueError(f"{self.name}: {event_type} produced on two topics")

    @property
    def consumed_topics(self) -> list[str]:
        """The topics the service's consumers subscribe to."""
        return [topic.value for topic in self.consumes]

    @property
    def consumed_types(self) -> frozenset[str]:
        """Every event type the service acts on, over all its topics."""
        return frozenset(t for types in self.consumes.values() for t in types)

    @property
    def group(self) -> str:
        """The consumer group of the service's consumers."""
        if self.group_id is None:
            raise ValueError(f"{self.name} runs no consumer of its own")
        return self.group_id

    @property
    def writes_deadletters(self) -> bool:
        """The shared consumer parks what it cannot apply: every service that consumes writes them."""
        return self.group_id is not None and bool(self.consumes)

    def topic_of(self, event_type: str) -> str:
        """The topic this service publishes `event_type` on; UndeclaredEvent if it declared none."""
        for topic, types in self.produces.items():
            if event_type in types:
                return topic.value
        raise UndeclaredEvent(f"{self.name} does not declare producing {event_type!r}")

    def message(self, event: CloudEvent) -> OutboxMessage:
        """The outbox row for `event`, on the topic the contract declares for its type."""
        return OutboxMessage.of(self.topic_of(event.type), event)


# Parties outside winback: other systems' backends feed the Kafka-native path, campaign tools
# execute actions, operations reads what was parked.
EXTERNAL_PARTIES: tuple[ServiceContract, ...] = (
    ServiceContract("backends", produces={Topic.INBOUND: INBOUND}),
    # Tools receive both outcomes and execute the triggered ones; suppressions are for the record.
    ServiceContract("campaign-tools", consumes={Topic.ACTIONS: ("action.suppressed", "action.triggered")}),
    ServiceContract("ops", consumes={Topic.EVENTS_DLQ: (), Topic.DEADLETTER: ()}),
)


def service_contracts() -> list[ServiceContract]:
    """The contracts of the installed services (entry point `winback.contracts`), by name."""
    found = [ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for contract in found:
        if not isinstance(contract, ServiceContract):
            raise TypeError(f"entry point {ENTRY_POINT_GROUP} gave {contract!r}, not a ServiceContract")
    return sorted(found, key=lambda c: c.name)


def all_parties(services: Iterable[ServiceContract] | None = None) -> list[ServiceContract]:
    """Every service's contract followed by the parties outside winback."""
    return [*(service_contracts() if services is None else services), *EXTERNAL_PARTIES]
