"""In-memory inbox, outbox and tombstones, and the unit of work around them, for handler unit tests.

A fake unit of work works on a deep copy of its store's state and puts it back on `commit()`;
leaving without a commit drops the copy, as a rollback does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Generic, Self, TypeVar

from winback_shared.db.outbox import OutboxMessage
from winback_shared.erasure import without_erased_history
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.registry import parse_event_json

E = TypeVar("E", bound=CloudEvent)


@dataclass
class MessagingState:
    """What every consuming service keeps besides its own tables."""

    processed: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[OutboxMessage] = field(default_factory=list)
    # Customer id -> erasure time (the SQL tombstone keys a hash of the id; the fake needs no key).
    tombstones: dict[str, datetime] = field(default_factory=dict)

    def published(self) -> list[tuple[str, str, str | None]]:
        """(topic, event type, event id) of each outbox message, in order."""
        return [(m.topic, m.event_type, parse_event_json(m.payload).id) for m in self.outbox]


class FakeInbox:
    def __init__(self, state: MessagingState) -> None:
        self._state = state

    async def claim(self, events: Sequence[E]) -> list[E]:
        unique: dict[tuple[str, str], E] = {}
        for event in events:
            unique.setdefault(event.identity, event)
        fresh = [e for key, e in unique.items() if key not in self._state.processed]
        self._state.processed |= unique.keys()
        return fresh

    async def applied(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return {k for k in keys if k in self._state.processed}


class FakeOutbox:
    def __init__(self, state: MessagingState) -> None:
        self._state = state

    async def add(self, messages: Sequence[OutboxMessage]) -> None:
        self._state.outbox.extend(messages)


class FakeErasures:
    def __init__(self, state: MessagingState) -> None:
        self._state = state

    async def record(self, erased: Iterable[tuple[str, datetime]]) -> None:
        for customer_id, at in erased:
            self._state.tombstones[customer_id] = max(at, self._state.tombstones.get(customer_id, at))

    async def drop_erased_history(self, events: Sequence[E]) -> list[E]:
        return without_erased_history(events, self._state.tombstones)


S = TypeVar("S", bound=MessagingState)


@dataclass
class Store(Generic[S]):
    """The committed state and how often a unit of work committed."""

    state: S
    commits: int = 0


class FakeUnitOfWork(Generic[S]):
    """Base of the services' fake units of work: `_bind` builds the repositories over `self.work`."""

    def __init__(self, store: Store[S]) -> None:
        self.store = store
        self.work: S = store.state

    async def __aenter__(self) -> Self:
        self.work = copy.deepcopy(self.store.state)
        self.inbox = FakeInbox(self.work)
        self.outbox = FakeOutbox(self.work)
        self.erasures = FakeErasures(self.work)
        self._bind(self.work)
        return self

    def _bind(self, work: S) -> None:
        raise NotImplementedError

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.work = self.store.state

    async def commit(self) -> None:
        self.store.state = self.work
        self.store.commits += 1
