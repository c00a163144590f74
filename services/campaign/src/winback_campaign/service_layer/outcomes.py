"""A person records what came of a call task or letter; the system hears it as the matching events.

Events go through the outbox to `winback.inbound`, as an opt-out click does, so ingest validates
them and consent, campaign, risk and metrics act on them like on any tool's feedback:
- reached / not_reached: `campaign.response` with that outcome;
- declined: `campaign.response` replied (the enrolment exits `reply` now, where its playbook exits on it);
- objected: `campaign.response` reached and `contact.objected` for all channels (GDPR Art. 21: the
  customer said no to advertising); the enrolment exits `objection` now, in this transaction, so no
  further step goes out even before consent has recorded the objection;
- won_back: `campaign.response` reached. The return itself is an order or contract event of the
  owning backend: only that makes risk report `won_back` (and campaign exit `won_back`).
Event ids derive from the action, so recording twice publishes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters.tables import action_outcomes, actions, enrollments, outbox
from winback_campaign.contract import CONTRACT
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.service_layer import events
from winback_shared.clock import Clock
from winback_shared.db.outbox import OutboxMessage, enqueue
from winback_shared.events.inbound import CampaignResponse, ContactObjected

Outcome = Literal["reached", "not_reached", "declined", "objected", "won_back"]
SOURCE = "/winback/campaign/outcomes"
OUTCOME_CHANNELS = ("phone", "post")
RESPONSE_OF: dict[str, str] = {
    "reached": "reached",
    "not_reached": "not_reached",
    "declined": "replied",
    "objected": "reached",
    "won_back": "reached",
}
EXIT_OF: dict[str, str] = {"declined": "reply", "objected": "objection"}


class UnknownAction(LookupError):
    """No action with this id."""


class OutcomeConflict(ValueError):
    """Another outcome was recorded already, or the action takes none (suppressed, another channel)."""


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    action_id: str
    customer_id: str
    outcome: str
    note: str | None
    recorded_at: datetime
    events: tuple[tuple[str, str], ...]
    enrollment_exit: str | None
    created: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "action_id": self.action_id,
            "customer_id": self.customer_id,
            "outcome": self.outcome,
            "note": self.note,
            "recorded_at": self.recorded_at.isoformat(),
            "events": [{"type": t, "id": i} for t, i in self.events],
            "enrollment_exit": self.enrollment_exit,
        }


def outcome_events(
    action_id: str, customer_id: str, outcome: str, note: str | None, now: datetime
) -> list[OutboxMessage]:
    data = {"customer_id": customer_id, "action_id": action_id, "outcome": RESPONSE_OF[outcome]}
    response = CampaignResponse.new(source=SOURCE, time=now, data=data, id=f"outcome:{action_id}:response")
    messages = [CONTRACT.message(response)]
    if outcome == "objected":
        objection = {"customer_id": customer_id, "channels": ["all"], "note": note or "objected during a call"}
        event = ContactObjected.new(source=SOURCE, time=now, data=objection, id=f"outcome:{action_id}:objection")
        messages.append(CONTRACT.message(event))
    return messages


def _event_refs(action_id: str, outcome: str) -> tuple[tuple[str, str], ...]:
    refs = [("campaign.response", f"outcome:{action_id}:response")]
    if outcome == "objected":
        refs.append(("contact.objected", f"outcome:{action_id}:objection"))
    return tuple(refs)


class OutcomeRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        on_committed: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._on_committed = on_committed

    async def record(
        self, action_id: str, outcome: Outcome, note: str | None, playbooks: Sequence[Playbook]
    ) -> RecordedOutcome:
        """Once per action: the same outcome again is the first record; another one is an OutcomeConflict."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            a = actions
            row = (
                await session.execute(
                    select(
                        a.c.customer_id, a.c.channel, a.c.status, a.c.enrollment_id, a.c.playbook_id, a.c.variant
                    ).where(a.c.action_id == action_id)
                )
            ).first()
            if row is None:
                raise UnknownAction(f"no action {action_id!r}")
            if row.status != "triggered":
                raise OutcomeConflict(f"action {action_id!r} was {row.status}: nothing went out, so nothing came of it")
            if row.channel not in OUTCOME_CHANNELS:
                raise OutcomeConflict(
                    f"action {action_id!r} is on channel {row.channel!r}: outcomes are recorded for phone and post; "
                    "the executing tool reports the others as campaign.response"
                )
            inserted = await session.scalar(
                insert(action_outcomes)
                .values(action_id=action_id, customer_id=row.customer_id, outcome=outcome, note=note, recorded_at=now)
                .on_conflict_do_nothing(index_elements=["action_id"])
                .returning(action_outcomes.c.action_id)
            )
            if inserted is None:
                return await self._existing(session, action_id, outcome)
            exit_reason = await self._exit(session, row, outcome, now, playbooks)
            if exit_reason is not None:
                await session.execute(
                    action_outcomes.update()
                    .where(action_outcomes.c.action_id == action_id)
                    .values(enrollment_exit=exit_reason)
                )
            messages = outcome_events(action_id, row.customer_id, outcome, note, now)
            if exit_reason is not None:
                enrollment = ActiveEnrollment(row.enrollment_id, row.customer_id, row.playbook_id, row.variant or "")
                messages.append(events.exited(enrollment, exit_reason, now))
            await enqueue(session, outbox, messages)
        for callback in self._on_committed:
            callback()
        return RecordedOutcome(
            action_id, row.customer_id, outcome, note, now, _event_refs(action_id, outcome), exit_reason, True
        )

    async def _existing(self, session: AsyncSession, action_id: str, outcome: str) -> RecordedOutcome:
        o = action_outcomes
        first = (await session.execute(select(o).where(o.c.action_id == action_id))).one()
        if first.outcome != outcome:
            raise OutcomeConflict(
                f"action {action_id!r} already has the outcome {first.outcome!r} "
                f"(recorded {first.recorded_at.isoformat()}); a second, different outcome is refused"
            )
        return RecordedOutcome(
            action_id,
            first.customer_id,
            first.outcome,
            first.note,
            first.recorded_at,
            _event_refs(action_id, first.outcome),
            first.enrollment_exit,
            False,
        )

    async def _exit(
        self,
        session: AsyncSession,
        row: Row[Any, Any, Any, Any, Any, Any],
        outcome: str,
        now: datetime,
        playbooks: Sequence[Playbook],
    ) -> str | None:
        """End the action's enrolment now when the outcome ends it (an objection always does)."""
        reason = EXIT_OF.get(outcome)
        if reason is None:
            return None
        enrollment_id: str = row.enrollment_id
        playbook = next((p for p in playbooks if p.playbook_id == row.playbook_id), None)
        if reason != "objection" and playbook is not None and reason not in playbook.exit_on:
            return None
        status = await session.scalar(
            select(enrollments.c.status).where(enrollments.c.enrollment_id == enrollment_id).with_for_update()
        )
        if status != "active":
            return None
        await repo.exit_enrollments(session, {enrollment_id: reason}, now)
        return reason
