"""Folding a batch of status changes over the customers' active enrolments (pure, in order)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from winback_campaign.domain.enrolment import (
    EnrolmentPlan,
    NoEnrolment,
    StatusChange,
    exit_reason_for,
    plan_enrolment,
)
from winback_campaign.domain.playbooks import Playbook


@dataclass(frozen=True, slots=True)
class ActiveEnrolment:
    enrollment_id: str
    customer_id: str
    playbook_id: str
    variant: str


@dataclass(frozen=True, slots=True)
class Enrolled:
    plan: EnrolmentPlan


@dataclass(frozen=True, slots=True)
class Exited:
    enrolment: ActiveEnrolment
    reason: str


Effect = Enrolled | Exited


@dataclass
class BatchOutcome:
    effects: list[Effect] = field(default_factory=list)
    skipped: list[tuple[StatusChange, str]] = field(default_factory=list)

    @property
    def plans(self) -> list[EnrolmentPlan]:
        return [e.plan for e in self.effects if isinstance(e, Enrolled)]

    @property
    def exits(self) -> dict[str, str]:
        """Exit reason per enrolment id, including enrolments made earlier in the same batch."""
        return {e.enrolment.enrollment_id: e.reason for e in self.effects if isinstance(e, Exited)}


def fold_status_changes(
    changes: Sequence[StatusChange],
    active: dict[str, ActiveEnrolment],
    playbooks: Sequence[Playbook],
    *,
    now: datetime,
    replay_window: timedelta,
) -> BatchOutcome:
    """Enrolments and exits the changes cause, in order; `active` is the state before the batch."""
    current = dict(active)
    outcome = BatchOutcome()
    for change in changes:
        reason = exit_reason_for(change)
        if reason is not None:
            enrolment = current.pop(change.customer_id, None)
            if enrolment is not None:
                outcome.effects.append(Exited(enrolment, reason))
            continue
        decision = plan_enrolment(
            change,
            playbooks,
            now=now,
            has_active_enrolment=change.customer_id in current,
            replay_window=replay_window,
        )
        if isinstance(decision, NoEnrolment):
            outcome.skipped.append((change, decision.reason))
            continue
        outcome.effects.append(Enrolled(decision))
        current[change.customer_id] = ActiveEnrolment(
            decision.enrollment_id, decision.customer_id, decision.playbook.playbook_id, decision.variant
        )
    return outcome
