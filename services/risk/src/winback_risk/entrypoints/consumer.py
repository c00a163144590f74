"""The Kafka side of risk: a consumed batch becomes one `apply_events` in a unit of work of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from winback_risk.service_layer.handlers import Scoring, apply_events
from winback_risk.service_layer.unit_of_work import UnitOfWorkFactory
from winback_shared.clock import Clock
from winback_shared.events.envelope import CloudEvent


class EventConsumer:
    """`BatchConsumer` handler of `winback.events` (and `customer.erased` from `winback.consent`)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        scoring: Callable[[], Awaitable[Scoring]],
        source: str,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._scoring = scoring
        self._source = source
        self._on_published = on_published

    async def __call__(self, events: Sequence[CloudEvent]) -> None:
        # The model in force now: a refit elsewhere is picked up by the next batch.
        scoring = await self._scoring()
        result = await apply_events(self._uow(), self._clock, events, source=self._source, scoring=scoring)
        if result.published and self._on_published is not None:
            self._on_published()  # the relay publishes now instead of at its next poll
