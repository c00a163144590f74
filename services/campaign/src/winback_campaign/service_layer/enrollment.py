"""Consumer of `winback.risk`, `winback.events` and `winback.consent`: profiles, enrolments, exits per batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import deferred_repository, erasure
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters.tables import erasures, outbox, processed_events
from winback_campaign.domain.batch import BatchOutcome, Enrolled, Exited, Signal, fold_status_changes
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.enrollment import YEAR
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.service_layer import events, translate
from winback_campaign.service_layer.playbooks import current
from winback_shared.clock import Clock
from winback_shared.db.erasures import drop_erased_history, record_erasures
from winback_shared.db.inbox import already_processed, claim_unprocessed
from winback_shared.db.outbox import OutboxMessage, enqueue
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CampaignResponse, FeatureReleased
from winback_shared.events.produced import CustomerErased, CustomerStatusChanged
from winback_shared.settings import DEV_ERASURE_KEY

log = structlog.get_logger(__name__)

ENROLLED = Counter("winback_campaign_enrolled_total", "Enrolments made", ["playbook"])
EXITED = Counter("winback_campaign_exited_total", "Enrolments ended early", ["reason"])


class EnrollmentHandler:
    """BatchConsumer handler: one transaction per batch, idempotent by `(source, id)`."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        replay_window: timedelta,
        cause_grace: timedelta = timedelta(hours=24),
        shipped: Sequence[Playbook] = BUILTIN_PLAYBOOKS,
        on_committed: Sequence[Callable[[], None]] = (),
        erasure_key: bytes = DEV_ERASURE_KEY.encode(),
    ) -> None:
        self._erasure_key = erasure_key
        self._shipped = tuple(shipped)
        self._sessions = sessions
        self._clock = clock
        self._replay_window = replay_window
        self._cause_grace = cause_grace
        self._on_committed = on_committed

    async def __call__(self, batch: Sequence[CloudEvent]) -> None:
        erased = [(e.data.customer_id, e.data.erased_at) for e in batch if isinstance(e, CustomerErased)]
        recorded = [e for e in batch if translate.recorded(e) and not isinstance(e, CustomerErased)]
        if not recorded and not erased:
            return
        async with self._sessions.begin() as session:
            if erased:
                # GDPR Art. 17: delete, keep a tombstone; the customer's older events stay ignored from now on.
                await record_erasures(session, erasures, self._erasure_key, erased)
                await erasure.delete_customers(session, [c for c, _ in erased])
            claimed = await claim_unprocessed(session, processed_events, recorded)
            applicable = await drop_erased_history(session, erasures, self._erasure_key, claimed)
            fresh = [e for e in applicable if isinstance(e, translate.RELEVANT)]
            now = self._clock.now()
            await repo.upsert_profiles(session, translate.merged_profiles(fresh), now)
            ready = await self._in_step_with_events(session, fresh, now)
            signals = await self._signals(session, ready, now)
            wrote_outbox = await self._apply(session, signals, now) if signals else False
        if wrote_outbox:
            for callback in self._on_committed:
                callback()

    async def _in_step_with_events(
        self, session: AsyncSession, fresh: Sequence[CloudEvent], now: datetime
    ) -> list[CloudEvent]:
        """No decision on stale state: a status change waits until this service applied the event it names.

        `winback.risk` and `winback.events` are read side by side, so a churn can arrive before the
        profile, kind and time zone its enrolment is decided on. Such a change is deferred; changes
        whose event is now applied (this batch included) come back first, as they arrived first.
        """
        named = [e for e in fresh if isinstance(e, CustomerStatusChanged) and e.data.caused_by is not None]
        applied = await already_processed(session, processed_events, [translate.cause_of(e) for e in named])
        early = [e for e in named if translate.cause_of(e) not in applied]
        await deferred_repository.defer(session, early, now)
        released = await deferred_repository.release(session, now - self._cause_grace)
        waiting = {e.identity for e in early}
        return [*released, *(e for e in fresh if e.identity not in waiting)]

    async def _signals(self, session: AsyncSession, fresh: Sequence[CloudEvent], now: datetime) -> list[Signal]:
        """The batch's status changes, releases and exit signals, in the order they arrived."""
        changes = [translate.status_change(e) for e in fresh if isinstance(e, CustomerStatusChanged)]
        await repo.record_statuses(session, changes, now)
        facts = await repo.customer_facts(session, (c.customer_id for c in changes))
        by_event = {
            c.event_id: dataclasses.replace(c, **facts.get(c.customer_id, {}))  # kind and time zone from the profile
            for c in changes
        }
        responses = [e.data.action_id for e in fresh if isinstance(e, CampaignResponse)]
        enrollment_of_action = await repo.enrollment_of_actions(session, responses)
        signals: list[Signal] = []
        for event in fresh:
            if isinstance(event, CustomerStatusChanged):
                signals.append(by_event[event.id])
            elif isinstance(event, FeatureReleased):
                # A release long past (imported history) reaches nobody, like any other trigger.
                if event.time >= now - self._replay_window:
                    candidates = await repo.release_candidates(session, event.data.tags)
                    signals.extend(translate.release_changes(event, candidates))
            else:
                signal = translate.exit_signal(event, enrollment_of_action)
                if signal is not None:
                    signals.append(signal)
        return signals

    async def _apply(self, session: AsyncSession, signals: Sequence[Signal], now: datetime) -> bool:
        customers = {s.customer_id for s in signals}
        active = await repo.active_enrollments(session, customers)
        history = await repo.history(session, customers, now - YEAR)
        outcome = fold_status_changes(
            signals,
            active,
            await current(session, self._shipped),
            now=now,
            replay_window=self._replay_window,
            history=history,
        )
        exits = outcome.exits
        new_ids = {p.enrollment_id for p in outcome.plans}
        old_exits = {k: v for k, v in exits.items() if k not in new_ids}
        won = [k for k, v in exits.items() if v == "won_back"]
        attributed = await repo.last_triggered_actions(session, won)
        # Exits first: the one-active-enrolment-per-customer index would otherwise silently drop the
        # enrolment that follows an exit in the same batch (a return during a win-back: re-onboarding).
        await repo.exit_enrollments(session, old_exits, now, attributed)
        await repo.insert_enrollments(session, outcome.plans, exits, now)
        messages = [_message(effect, now, attributed) for effect in outcome.effects]
        await enqueue(session, outbox, messages)
        _log(outcome)
        return bool(messages)


def _message(effect: Enrolled | Exited, now: datetime, attributed: dict[str, str]) -> OutboxMessage:
    if isinstance(effect, Enrolled):
        return events.enrolled(effect.plan, now)
    return events.exited(
        effect.enrollment, effect.reason, now, attributed_action_id=attributed.get(effect.enrollment.enrollment_id)
    )


def _log(outcome: BatchOutcome) -> None:
    for effect in outcome.effects:
        if isinstance(effect, Enrolled):
            ENROLLED.labels(effect.plan.playbook.playbook_id).inc()
        else:
            EXITED.labels(effect.reason).inc()
    for change, reason in outcome.skipped:
        log.debug("enrolment_skipped", customer_id=change.customer_id, to=change.to, reason=reason)
