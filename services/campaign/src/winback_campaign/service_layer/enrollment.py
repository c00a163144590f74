"""Consumer of `winback.risk`, `winback.events` and `winback.consent`: profiles, enrolments, exits per batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from prometheus_client import Counter

from winback_campaign.domain.batch import BatchOutcome, Enrolled, Exited, Signal, fold_status_changes
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.enrollment import YEAR
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.service_layer import events, translate
from winback_campaign.service_layer.playbooks import in_force
from winback_campaign.service_layer.unit_of_work import CampaignUnitOfWork
from winback_shared.clock import Clock
from winback_shared.db.outbox import OutboxMessage
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CampaignResponse, FeatureReleased
from winback_shared.events.produced import CustomerErased, CustomerStatusChanged

log = structlog.get_logger(__name__)

ENROLLED = Counter("winback_campaign_enrolled_total", "Enrolments made", ["playbook"])
EXITED = Counter("winback_campaign_exited_total", "Enrolments ended early", ["reason"])


@dataclass(frozen=True, slots=True)
class EnrollmentRules:
    """What enrolment decides with besides the events: the playbooks shipped and the time limits."""

    replay_window: timedelta
    # How long a status change waits for the event it names before it is decided on without it.
    cause_grace: timedelta = timedelta(hours=24)
    shipped: Sequence[Playbook] = BUILTIN_PLAYBOOKS


async def apply_batch(
    batch: Sequence[CloudEvent], uow: CampaignUnitOfWork, clock: Clock, rules: EnrollmentRules
) -> bool:
    """Apply one consumed batch in one transaction, idempotent by `(source, id)`; True when it wrote to the outbox."""
    erased = [(e.data.customer_id, e.data.erased_at) for e in batch if isinstance(e, CustomerErased)]
    recorded = [e for e in batch if translate.recorded(e) and not isinstance(e, CustomerErased)]
    if not recorded and not erased:
        return False
    async with uow:
        if erased:
            # GDPR Art. 17: delete, keep a tombstone; the customer's older events stay ignored from now on.
            await uow.erasures.record(erased)
            await uow.customers.delete([c for c, _ in erased])
        claimed = await uow.inbox.claim(recorded)
        applicable = await uow.erasures.drop_erased_history(claimed)
        fresh = [e for e in applicable if isinstance(e, translate.RELEVANT)]
        now = clock.now()
        await uow.customers.upsert_profiles(translate.merged_profiles(fresh), now)
        ready = await _in_step_with_events(uow, fresh, now, rules.cause_grace)
        signals = await _signals(uow, ready, now, rules.replay_window)
        wrote_outbox = await _apply(uow, signals, now, rules) if signals else False
        await uow.commit()
    return wrote_outbox


async def _in_step_with_events(
    uow: CampaignUnitOfWork, fresh: Sequence[CloudEvent], now: datetime, cause_grace: timedelta
) -> list[CloudEvent]:
    """No decision on stale state: a status change waits until this service applied the event it names.

    `winback.risk` and `winback.events` are read side by side, so a churn can arrive before the
    profile, kind and time zone its enrolment is decided on. Such a change is deferred; changes
    whose event is now applied (this batch included) come back first, as they arrived first.
    """
    named = [e for e in fresh if isinstance(e, CustomerStatusChanged) and e.data.caused_by is not None]
    applied = await uow.inbox.applied([translate.cause_of(e) for e in named])
    early = [e for e in named if translate.cause_of(e) not in applied]
    await uow.deferred.defer(early, now)
    released = await uow.deferred.release(now - cause_grace)
    waiting = {e.identity for e in early}
    return [*released, *(e for e in fresh if e.identity not in waiting)]


async def _signals(
    uow: CampaignUnitOfWork, fresh: Sequence[CloudEvent], now: datetime, replay_window: timedelta
) -> list[Signal]:
    """The batch's status changes, releases and exit signals, in the order they arrived."""
    changes = [translate.status_change(e) for e in fresh if isinstance(e, CustomerStatusChanged)]
    await uow.customers.record_statuses(changes, now)
    facts = await uow.customers.facts(c.customer_id for c in changes)
    by_event = {
        c.event_id: dataclasses.replace(c, **facts.get(c.customer_id, {}))  # kind and time zone from the profile
        for c in changes
    }
    reports = [(e.data.action_id, e.data.outcome, e.time) for e in fresh if isinstance(e, CampaignResponse)]
    # A call task or letter the tool reported on is done: it leaves the console's /today list.
    await uow.enrollments.record_reports(reports)
    enrollment_of_action = await uow.enrollments.of_actions(a for a, _, _ in reports)
    signals: list[Signal] = []
    for event in fresh:
        if isinstance(event, CustomerStatusChanged):
            signals.append(by_event[event.id])
        elif isinstance(event, FeatureReleased):
            # A release long past (imported history) reaches nobody, like any other trigger.
            if event.time >= now - replay_window:
                candidates = await uow.customers.release_candidates(event.data.tags)
                signals.extend(translate.release_changes(event, candidates))
        else:
            signal = translate.exit_signal(event, enrollment_of_action)
            if signal is not None:
                signals.append(signal)
    return signals


async def _apply(uow: CampaignUnitOfWork, signals: Sequence[Signal], now: datetime, rules: EnrollmentRules) -> bool:
    customers = {s.customer_id for s in signals}
    active = await uow.enrollments.active(customers)
    history = await uow.enrollments.history(customers, now - YEAR)
    outcome = fold_status_changes(
        signals,
        active,
        in_force(await uow.playbooks.latest_documents(), rules.shipped),
        now=now,
        replay_window=rules.replay_window,
        history=history,
    )
    exits = outcome.exits
    new_ids = {p.enrollment_id for p in outcome.plans}
    old_exits = {k: v for k, v in exits.items() if k not in new_ids}
    won = [k for k, v in exits.items() if v == "won_back"]
    attributed = await uow.enrollments.last_triggered_actions(won)
    # Exits first: the one-active-enrolment-per-customer index would otherwise silently drop the
    # enrolment that follows an exit in the same batch (a return during a win-back: re-onboarding).
    await uow.enrollments.exit(old_exits, now, attributed)
    await uow.enrollments.add(outcome.plans, exits, now)
    messages = [_message(effect, now, attributed) for effect in outcome.effects]
    await uow.outbox.add(messages)
    _log(outcome)
    return bool(messages)


def _message(effect: Enrolled | Exited, now: datetime, attributed: dict[str, str]) -> OutboxMessage:
    if isinstance(effect, Enrolled):
        # Never dated before the status change that caused it: the service that dated the change may
        # run ahead of this clock (clock skew; a simulator moving clocks once a day), and metrics puts
        # an enrolment into the churn episode that begins at that change only if it comes at or after it.
        return events.enrolled(effect.plan, max(now, effect.plan.trigger_at))
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
