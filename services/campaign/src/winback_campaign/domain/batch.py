"""Folding a batch of status changes and exit signals over the customers' enrolments (pure, in order)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from winback_campaign.domain.enrollment import (
    EnrollmentPlan,
    NoEnrollment,
    PastEnrollment,
    StatusChange,
    exit_reason_for,
    plan_enrollment,
)
from winback_campaign.domain.playbooks import Playbook


@dataclass(frozen=True, slots=True)
class ActiveEnrollment:
    enrollment_id: str
    customer_id: str
    playbook_id: str
    variant: str


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """The customer said no (objection, unsubscribe, complaint) or replied: ends the active enrolment."""

    customer_id: str
    reason: str
    # Only the enrolment this signal is about (a response to one of its actions); None: whichever is active.
    enrollment_id: str | None = None


@dataclass(frozen=True, slots=True)
class Enrolled:
    plan: EnrollmentPlan


@dataclass(frozen=True, slots=True)
class Exited:
    enrollment: ActiveEnrollment
    reason: str


Effect = Enrolled | Exited
Signal = StatusChange | ExitSignal


@dataclass
class BatchOutcome:
    effects: list[Effect] = field(default_factory=list)
    skipped: list[tuple[StatusChange, str]] = field(default_factory=list)

    @property
    def plans(self) -> list[EnrollmentPlan]:
        return [e.plan for e in self.effects if isinstance(e, Enrolled)]

    @property
    def exits(self) -> dict[str, str]:
        """Exit reason per enrolment id, including enrolments made earlier in the same batch."""
        return {e.enrollment.enrollment_id: e.reason for e in self.effects if isinstance(e, Exited)}


def fold_status_changes(
    changes: Sequence[Signal],
    active: dict[str, ActiveEnrollment],
    playbooks: Sequence[Playbook],
    *,
    now: datetime,
    replay_window: timedelta,
    history: dict[str, list[PastEnrollment]] | None = None,
) -> BatchOutcome:
    """Enrolments and exits the signals cause, in order; `active` and `history` are the state before the batch."""
    current = dict(active)
    past = {k: list(v) for k, v in (history or {}).items()}
    by_id = {p.playbook_id: p for p in playbooks}
    outcome = BatchOutcome()
    for change in changes:
        enrollment = current.get(change.customer_id)
        if isinstance(change, ExitSignal):
            playbook = by_id.get(enrollment.playbook_id) if enrollment else None
            matches = enrollment is not None and change.enrollment_id in (None, enrollment.enrollment_id)
            if enrollment is not None and matches and (playbook is None or change.reason in playbook.exit_on):
                outcome.effects.append(Exited(enrollment, change.reason))
                del current[change.customer_id]
            continue
        if enrollment is not None:
            reason = exit_reason_for(change, by_id.get(enrollment.playbook_id), playbooks)
            if reason is not None:
                outcome.effects.append(Exited(enrollment, reason))
                del current[change.customer_id]
        decision = plan_enrollment(
            change,
            playbooks,
            now=now,
            has_active_enrollment=change.customer_id in current,
            replay_window=replay_window,
            history=past.get(change.customer_id, ()),
        )
        if isinstance(decision, NoEnrollment):
            outcome.skipped.append((change, decision.reason))
            continue
        outcome.effects.append(Enrolled(decision))
        current[change.customer_id] = ActiveEnrollment(
            decision.enrollment_id, decision.customer_id, decision.playbook.playbook_id, decision.variant
        )
        past.setdefault(change.customer_id, []).append(
            PastEnrollment(decision.playbook.playbook_id, decision.holdout, "active", None, now, None)
        )
    return outcome
