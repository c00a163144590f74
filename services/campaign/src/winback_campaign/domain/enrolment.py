"""Who enrols in which playbook, and when each step falls due."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from winback_campaign.domain.ids import enrollment_id_for
from winback_campaign.domain.playbooks import Playbook, Step


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A `customer.status_changed` reduced to what the enrolment rules read."""

    customer_id: str
    to: str
    at: datetime
    winback_eligible: bool
    source: str
    event_id: str
    churn_reason: str | None = None
    segment: str | None = None
    value_tier: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedStep:
    step: Step
    due_at: datetime
    # Holdout customers are tracked but never contacted: their steps are skipped at once.
    skipped_reason: str | None = None


@dataclass(frozen=True, slots=True)
class EnrolmentPlan:
    enrollment_id: str
    customer_id: str
    playbook: Playbook
    variant: str
    holdout: bool
    trigger_at: datetime
    steps: tuple[PlannedStep, ...]


@dataclass(frozen=True, slots=True)
class NoEnrolment:
    reason: str


DEFAULT_VARIANT = "default"


def choose_playbook(change: StatusChange, playbooks: Sequence[Playbook]) -> Playbook | None:
    """The matching playbook with the highest priority (ties: the first listed)."""
    matching = [
        p
        for p in playbooks
        if p.trigger.matches(
            status=change.to, churn_reason=change.churn_reason, segment=change.segment, value_tier=change.value_tier
        )
    ]
    return max(matching, key=lambda p: p.priority, default=None)


def in_holdout(customer_id: str, playbook: Playbook) -> bool:
    """Deterministic by customer and playbook, so a replay assigns the same group."""
    if playbook.holdout_percent <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{playbook.playbook_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < playbook.holdout_percent


def plan_enrolment(
    change: StatusChange,
    playbooks: Sequence[Playbook],
    *,
    now: datetime,
    has_active_enrolment: bool,
    replay_window: timedelta,
) -> EnrolmentPlan | NoEnrolment:
    """Apply the eligibility rules to one status change."""
    if not change.winback_eligible:
        return NoEnrolment("not_winback_eligible")
    if change.at < now - replay_window:
        return NoEnrolment("outside_replay_window")
    playbook = choose_playbook(change, playbooks)
    if playbook is None:
        return NoEnrolment("no_matching_playbook")
    if has_active_enrolment:
        return NoEnrolment("already_enrolled")
    holdout = in_holdout(change.customer_id, playbook)
    steps = tuple(
        PlannedStep(step, max(change.at + step.after, now), "holdout" if holdout else None) for step in playbook.steps
    )
    return EnrolmentPlan(
        enrollment_id=enrollment_id_for(change.customer_id, playbook.playbook_id, change.source, change.event_id),
        customer_id=change.customer_id,
        playbook=playbook,
        variant=DEFAULT_VARIANT,
        holdout=holdout,
        trigger_at=change.at,
        steps=steps,
    )


def exit_reason_for(change: StatusChange) -> str | None:
    """A status change that ends active enrolments, or None."""
    return "won_back" if change.to == "won_back" else None
