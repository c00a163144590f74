"""The durable scheduler: due steps are claimed in PostgreSQL, consent is asked, actions recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import enrollment_repository, step_repository, webhook_repository
from winback_campaign.adapters.consent_client import ConsentClient, ConsentUnavailable
from winback_campaign.adapters.tables import outbox
from winback_campaign.domain.actions import ActionOutcome, ConsentRequest, DueStep, has_address, settle
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.ids import action_id_for
from winback_campaign.domain.rounds import plan_round
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.domain.timing import FrequencyCap
from winback_campaign.domain.waiting import Backoff, split_not_yet
from winback_campaign.service_layer import events
from winback_shared.aio import wait_any
from winback_shared.clock import Clock
from winback_shared.db.outbox import OutboxMessage, enqueue
from winback_shared.events.produced import ActionSuppressedData, ActionTriggeredData
from winback_shared.kafka.consumer import is_transient

log = structlog.get_logger(__name__)

ACTIONS = Counter("winback_campaign_actions_total", "Actions settled", ["status", "channel"])
MOVED = Counter("winback_campaign_steps_moved_total", "Due steps moved later", ["reason"])
# The longest frequency-cap window: contacts older than this never hold a step back.
CAP_WINDOW = timedelta(days=30)
HELD = Counter(
    "winback_campaign_steps_held_total", "Due steps kept pending: consent has not applied their cause yet", ["reason"]
)
CONSENT_FAILURES = Counter("winback_campaign_consent_unavailable_total", "Scheduler rounds without consent answer")


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    batch_size: int = 200
    interval_s: float = 0.5
    retry_max_s: float = 15.0
    address_grace: timedelta = timedelta(hours=24)
    default_language: str = "de"
    cap: FrequencyCap = field(default_factory=FrequencyCap)
    # Channel -> webhook URL: a triggered action of that channel gets a delivery row (same transaction).
    webhooks: Mapping[str, str] = field(default_factory=dict)
    # Rounds in flight at once in this process: round k+1 asks consent while round k writes.
    pipeline_depth: int = 2
    # How soon a step is asked again after consent's "not yet" (it has not applied the step's cause).
    backoff: Backoff = field(default_factory=Backoff)


class Scheduler:
    """One round: claim due steps, ask consent once for all, settle them, in one transaction."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        consent: ConsentClient,
        sender: SenderIdentity,
        config: SchedulerConfig,
        on_committed: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._consent = consent
        self._sender = sender
        self._config = config
        self._on_committed = on_committed
        self._wakeup = asyncio.Event()
        # One consent call at a time: the pipeline overlaps it with another round's writes, not
        # with another consent call (consent serialises a customer's ledger appends anyway).
        self._consent_turn = asyncio.Lock()
        # Customers of this process's rounds in flight: their other steps wait for the next round,
        # whose cap check then sees this contact (one contact per customer per round, across rounds).
        self._in_flight: set[str] = set()

    def wake(self) -> None:
        """Something may have become due (a clock move, a new enrolment): do not wait a poll."""
        self._wakeup.set()

    async def run_once(self) -> int:
        """Settle one batch of due steps; raises ConsentUnavailable after rolling everything back."""
        mine: set[str] = set()
        try:
            async with self._sessions.begin() as session:
                now = self._clock.now()
                claimed = await step_repository.claim_due_steps(
                    session, now=now, address_grace=self._config.address_grace, limit=self._config.batch_size
                )
                if not claimed:
                    return 0
                # No await between the check and the reservation: rounds of this loop cannot interleave here.
                due = [d for d in claimed if d.customer_id not in self._in_flight]
                mine = {d.customer_id for d in due}
                self._in_flight |= mine
                contacts = await step_repository.recent_contacts(session, mine, now - CAP_WINDOW)
                plan = plan_round(due, contacts, now, self._config.cap)
                ids = {id(d): action_id_for(d.enrollment_id, d.step_id) for d in plan.send}
                askable = [d for d in plan.send if has_address(d)]
                # The transaction (and the step locks) stays open while consent answers: a crash
                # or an outage here rolls back, so a step is never settled without its decision.
                async with self._consent_turn:
                    decisions = await self._consent.decide([_consent_request(d, ids[id(d)]) for d in askable])
                # No decision on stale state: a step consent answers "not yet" for stays pending.
                to_settle, held = split_not_yet(plan.send, decisions, ids, now, self._config.backoff)
                outcomes = [
                    settle(
                        d,
                        decisions.get(ids[id(d)]) if has_address(d) else None,
                        sender=self._sender,
                        default_language=self._config.default_language,
                        action_id=ids[id(d)],
                    )
                    for d in to_settle
                ]
                await step_repository.hold_steps(session, [(d.enrollment_id, d.step_id, at, r) for d, at, r in held])
                await step_repository.reschedule(
                    session, [(m.enrollment_id, m.step_id, at, reason) for m, at, reason in plan.moves]
                )
                await self._write(session, outcomes, now)
        finally:
            self._in_flight -= mine
        for outcome in outcomes:
            ACTIONS.labels(outcome.status, outcome.step.channel).inc()
        for _, _, reason in plan.moves:
            MOVED.labels(reason).inc()
        for _, _, reason in held:
            HELD.labels(reason).inc()
        for callback in self._on_committed:
            callback()
        return len(claimed)

    async def drain(self) -> int:
        """Settle everything due now with the whole pipeline (tools and benchmarks); returns steps handled."""

        async def rounds() -> int:
            done = 0
            while n := await self.run_once():
                done += n
            return done

        return sum(await asyncio.gather(*(rounds() for _ in range(max(1, self._config.pipeline_depth)))))

    async def _write(self, session: AsyncSession, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
        rows = step_repository.ActionColumns(created_at=now)
        messages: list[OutboxMessage] = []
        hooks: list[tuple[str, str, str, bytes]] = []
        for o in outcomes:
            _add_action(rows, o)
            message = _action_event(o, now)
            messages.append(message)
            url = self._config.webhooks.get(o.step.channel) if o.status == "triggered" else None
            if url is not None:
                hooks.append((o.action_id, o.step.channel, url, message.payload))
        await step_repository.record_actions(session, rows)
        await step_repository.settle_steps(
            session, [(o.step.enrollment_id, o.step.step_id, o.status, o.reason, o.action_id) for o in outcomes]
        )
        exits: dict[str, ActionOutcome] = {}
        for o in outcomes:
            if o.exits_enrollment:
                exits.setdefault(o.step.enrollment_id, o)
        await enrollment_repository.exit_enrollments(
            session, {eid: o.reason or "objection" for eid, o in exits.items()}, now
        )
        for eid, o in exits.items():
            enrollment = ActiveEnrollment(eid, o.step.customer_id, o.step.playbook_id, o.step.variant)
            messages.append(events.exited(enrollment, o.reason or "objection", now))
        await enrollment_repository.complete_finished(
            session, {o.step.enrollment_id for o in outcomes} - exits.keys(), now
        )
        await enqueue(session, outbox, messages)
        # Same transaction as the action: a delivery exists exactly when the action does.
        await webhook_repository.add(session, hooks, now)

    async def run(self, stop: asyncio.Event) -> None:
        """`pipeline_depth` round loops until stopped; consent or database outages are retried with backoff."""
        try:
            await asyncio.gather(*(self._loop(stop) for _ in range(max(1, self._config.pipeline_depth))))
        finally:
            await self._consent.close()

    async def _loop(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                settled = await self.run_once()
                backoff = 0.5
            except Exception as exc:
                if not isinstance(exc, ConsentUnavailable) and not is_transient(exc):
                    raise
                if isinstance(exc, ConsentUnavailable):
                    CONSENT_FAILURES.inc()
                log.warning("scheduler_round_failed", error=str(exc)[:500], retry_in_s=backoff)
                await wait_any(stop, seconds=backoff)
                backoff = min(backoff * 2, self._config.retry_max_s)
                continue
            if settled < self._config.batch_size:
                await wait_any(stop, self._wakeup, seconds=self._config.interval_s)
                self._wakeup.clear()


def _consent_request(step: DueStep, action_id: str) -> ConsentRequest:
    return ConsentRequest(action_id, step.customer_id, step.channel, step.offer_category, step.caused_by)


def _add_action(rows: step_repository.ActionColumns, o: ActionOutcome) -> None:
    s = o.step
    rows.action_id.append(o.action_id)
    rows.customer_id.append(s.customer_id)
    rows.enrollment_id.append(s.enrollment_id)
    rows.step_id.append(s.step_id)
    rows.playbook_id.append(s.playbook_id)
    rows.status.append(o.status)
    rows.channel.append(s.channel)
    rows.template.append(s.template)
    rows.variant.append(s.variant)
    rows.offer.append(s.offer)
    rows.reason.append(o.reason)
    rows.content.append(_json(o.content))
    rows.recipient.append(_json(o.recipient))
    rows.consent.append(_json(o.consent))
    rows.due_at.append(s.due_at)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _action_event(o: ActionOutcome, now: datetime) -> OutboxMessage:
    s = o.step
    if o.status == "triggered":
        return events.action_triggered(
            ActionTriggeredData(
                action_id=o.action_id,
                customer_id=s.customer_id,
                channel=s.channel,
                template=s.template,
                variant=s.variant,
                offer=s.offer,
                content=o.content or {},
                recipient=o.recipient or {},
                consent=o.consent or {},
                due_at=s.due_at,
                playbook_id=s.playbook_id,
                enrollment_id=s.enrollment_id,
            ),
            now,
        )
    return events.action_suppressed(
        ActionSuppressedData(
            action_id=o.action_id,
            customer_id=s.customer_id,
            channel=s.channel,
            reason=o.reason or "denied",
            playbook_id=s.playbook_id,
            enrollment_id=s.enrollment_id,
            template=s.template,
            variant=s.variant,
        ),
        now,
    )
