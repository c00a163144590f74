"""The Kafka side of risk: a consumed batch becomes one `apply_events` in a unit of work of its own.

Also the wiring of the consumers, shared by the HTTP process (`bootstrap`) and the extra consumer
processes (`consumer_process`). It imports no HTTP stack: a spawned consumer process joins its
group only after its imports, and the partitions it gets wait for it meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Sequence

from winback_risk.adapters.unit_of_work import SqlUnitOfWork
from winback_risk.contract import CONTRACT
from winback_risk.service_layer.handlers import Scoring, apply_events
from winback_risk.service_layer.model_service import ModelHolder
from winback_risk.service_layer.unit_of_work import UnitOfWorkFactory
from winback_risk.settings import RiskSettings
from winback_shared.clock import Clock
from winback_shared.events.envelope import CloudEvent
from winback_shared.kafka.consumer import BatchConsumer
from winback_shared.runtime import ServiceRuntime


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


def scoring_of(
    runtime: ServiceRuntime, settings: RiskSettings, holder: ModelHolder
) -> Callable[[], Awaitable[Scoring]]:
    config = settings.risk_config()

    async def scoring() -> Scoring:
        model = await holder.get(runtime.sessions)
        return Scoring(model, config, settings.default_horizon_days, settings.clv_basis)

    return scoring


def add_event_consumers(
    runtime: ServiceRuntime,
    settings: RiskSettings,
    scoring: Callable[[], Awaitable[Scoring]],
    on_published: Callable[[], None] | None = None,
) -> list[BatchConsumer]:
    """The consumers of winback.events in this process (`consumer_tasks` asyncio tasks, one group).

    They read winback.consent too, for `customer.erased` only (GDPR erasure reaches risk).

    While one waits for the database, another folds and scores its batch (bench/risk/README.md,
    round 3). Their customers never overlap: events are keyed by customer.
    """
    handle = EventConsumer(
        uow=lambda: SqlUnitOfWork(runtime.sessions, settings.erasure_hash_key),
        clock=runtime.clock,
        scoring=scoring,
        source=settings.event_source,
        on_published=on_published,
    )
    return [
        runtime.add_consumer(group_id=settings.consumer_group, topics=CONTRACT.consumed_topics, handler=handle)
        for _ in range(settings.consumer_tasks)
    ]


# Objects allocated and not yet freed before a young collection (why so many: `tune_gc`).
GC_YOUNG_THRESHOLD = 1_000_000


def tune_gc() -> None:
    """Call once start-up is done.

    A batch allocates hundreds of thousands of short-lived objects; with the default thresholds
    the collector rescans the long-lived start-up heap again and again, which halved consumption
    throughput (bench/risk/README.md). Same remedy as ingest.

    The young generation's threshold counts objects allocated and not yet freed: a batch of
    16,000-20,000 events holds 200,000-250,000 of them (its events, states, facts, assessments)
    until it is done, so at 50,000 every batch was scanned about four times while alive and
    promoted (in process: 54 collections for 200,000 events, 10 % of the CPU). With two batches
    in flight (one per consumer task) a process holds up to ~600,000; at 1,000,000 a batch is
    not scanned while alive, and what it allocated is freed by reference counting when it ends.
    Reference cycles are still collected, after at most 1,000,000 objects: the collections of a
    replay found 0-20 unreachable objects each (bench/risk/README.md, round 6).
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
