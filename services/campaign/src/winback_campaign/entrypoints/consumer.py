"""The Kafka side of campaign: a consumed batch becomes one `apply_batch` in a unit of work of its own."""

from __future__ import annotations

from collections.abc import Sequence

from winback_campaign.service_layer.enrollment import EnrollmentRules, apply_batch
from winback_campaign.service_layer.ports import AfterCommit
from winback_campaign.service_layer.unit_of_work import UnitOfWorkFactory
from winback_shared.clock import Clock
from winback_shared.events.envelope import CloudEvent


class EnrollmentConsumer:
    """`BatchConsumer` handler of `winback.risk`, `winback.events` and `winback.consent`."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        rules: EnrollmentRules,
        on_committed: Sequence[AfterCommit] = (),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._rules = rules
        self._on_committed = on_committed

    async def __call__(self, batch: Sequence[CloudEvent]) -> None:
        if await apply_batch(batch, self._uow(), self._clock, self._rules):
            # The relay publishes now and the scheduler looks for new due steps, without a poll's wait.
            for callback in self._on_committed:
                callback()
