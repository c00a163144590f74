"""Consumer of `winback.risk` and `winback.events`: profiles, enrolments and exits per batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import enrolment_repository as repo
from winback_campaign.adapters.tables import outbox, processed_events
from winback_campaign.domain.batch import Enrolled, Exited, fold_status_changes
from winback_campaign.domain.enrolment import StatusChange
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.service_layer import events
from winback_shared.clock import Clock
from winback_shared.db.inbox import claim_unprocessed
from winback_shared.db.outbox import OutboxMessage, enqueue
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CustomerUpserted
from winback_shared.events.produced import CustomerStatusChanged

log = structlog.get_logger(__name__)

ENROLLED = Counter("winback_campaign_enrolled_total", "Enrolments made", ["playbook"])
EXITED = Counter("winback_campaign_exited_total", "Enrolments ended early", ["reason"])


def _status_change(event: CustomerStatusChanged) -> StatusChange:
    d = event.data
    return StatusChange(
        customer_id=d.customer_id,
        to=d.to,
        at=d.at,
        winback_eligible=d.winback_eligible,
        source=event.source,
        event_id=event.id,
        churn_reason=d.churn_reason,
        segment=d.segment,
        value_tier=d.value_tier,
    )


def _merged_profiles(upserts: Sequence[CustomerUpserted]) -> dict[str, dict[str, Any]]:
    """Per customer, the latest non-empty value of each field the batch carries."""
    profiles: dict[str, dict[str, Any]] = {}
    for event in upserts:
        fields = event.data.model_dump(include=set(repo.PROFILE_FIELDS), exclude_none=True)
        # `kind` has a default: only an explicitly sent kind overrides the stored one.
        if "kind" not in event.data.model_fields_set:
            fields.pop("kind", None)
        profiles.setdefault(event.data.customer_id, {}).update(fields)
    return profiles


class EnrolmentHandler:
    """BatchConsumer handler: one transaction per batch, idempotent by `(source, id)`."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        playbooks: Callable[[], Sequence[Playbook]],
        replay_window: timedelta,
        on_committed: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._playbooks = playbooks
        self._replay_window = replay_window
        self._on_committed = on_committed

    async def __call__(self, batch: Sequence[CloudEvent]) -> None:
        relevant = [e for e in batch if isinstance(e, CustomerUpserted | CustomerStatusChanged)]
        if not relevant:
            return
        async with self._sessions.begin() as session:
            fresh = await claim_unprocessed(session, processed_events, relevant)
            now = self._clock.now()
            upserts = [e for e in fresh if isinstance(e, CustomerUpserted)]
            await repo.upsert_profiles(session, _merged_profiles(upserts), now)
            changes = [_status_change(e) for e in fresh if isinstance(e, CustomerStatusChanged)]
            wrote_outbox = await self._apply_changes(session, changes, now) if changes else False
        if wrote_outbox:
            for callback in self._on_committed:
                callback()

    async def _apply_changes(self, session: AsyncSession, changes: Sequence[StatusChange], now: datetime) -> bool:
        active = await repo.active_enrolments(session, (c.customer_id for c in changes))
        outcome = fold_status_changes(changes, active, self._playbooks(), now=now, replay_window=self._replay_window)
        exits = outcome.exits
        new_ids = {p.enrollment_id for p in outcome.plans}
        await repo.insert_enrolments(session, outcome.plans, exits, now)
        await repo.exit_enrolments(session, {k: v for k, v in exits.items() if k not in new_ids}, now)
        messages = [_message(effect, now) for effect in outcome.effects]
        await enqueue(session, outbox, messages)
        _count(outcome.effects)
        for change, reason in outcome.skipped:
            log.debug("enrolment_skipped", customer_id=change.customer_id, to=change.to, reason=reason)
        return bool(messages)


def _message(effect: Enrolled | Exited, now: datetime) -> OutboxMessage:
    if isinstance(effect, Enrolled):
        return events.enrolled(effect.plan, now)
    return events.exited(effect.enrolment, effect.reason, now)


def _count(effects: Sequence[Enrolled | Exited]) -> None:
    for effect in effects:
        if isinstance(effect, Enrolled):
            ENROLLED.labels(effect.plan.playbook.playbook_id).inc()
        else:
            EXITED.labels(effect.reason).inc()
