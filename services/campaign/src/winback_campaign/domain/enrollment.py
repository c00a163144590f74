"""Who enrols in which playbook, with which variant, and when each step falls due."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from winback_campaign.domain.ids import enrollment_id_for
from winback_campaign.domain.playbooks import FEATURE_RELEASED, Playbook, Step
from winback_campaign.domain.timing import QUIET_HOUR_CHANNELS, next_quiet_hours_slot


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A `customer.status_changed` (or a feature release reaching one customer), as the rules read it."""

    customer_id: str
    to: str  # a status, or FEATURE_RELEASED
    at: datetime
    winback_eligible: bool
    source: str
    event_id: str
    churn_reason: str | None = None
    segment: str | None = None
    value_tier: str | None = None
    kind: str | None = None
    time_zone: str | None = None
    state: str | None = None  # German state, for its public holidays
    tags: tuple[str, ...] = ()
    feature: str | None = None
    # `(source, id)` of the event the change rests on (the status change's `caused_by`, or the
    # release): consent is asked with it, and nothing is decided before it is applied.
    caused_by: tuple[str, str] | None = None


# Statuses risk gives by its scores; a churn (a notice) outranks them even when dated earlier.
SCORED_STATUSES = frozenset({"active", "at_risk", "lapsed"})


def supersedes(new_to: str, new_at: datetime, old_to: str | None, old_at: datetime | None) -> bool:
    """Whether a status change replaces the one kept for a customer (previews, feature releases).

    The later one wins, except that risk churns at a notice it read late even after a score had
    moved the customer since (risk README): that churn, dated before the score, is the current status.
    """
    if old_at is None or new_at >= old_at:
        return True
    return new_to == "churned" and old_to in SCORED_STATUSES


@dataclass(frozen=True, slots=True)
class PastEnrollment:
    playbook_id: str
    holdout: bool
    status: str
    exit_reason: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlannedStep:
    step: Step
    due_at: datetime
    # Holdout customers are tracked but never contacted: their steps are skipped at once.
    skipped_reason: str | None = None
    # Why the step waits beyond its playbook time (quiet hours), if it does.
    wait_reason: str | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentPlan:
    enrollment_id: str
    customer_id: str
    playbook: Playbook
    variant: str
    holdout: bool
    trigger_at: datetime
    steps: tuple[PlannedStep, ...]
    churn_reason: str | None = None
    feature: str | None = None
    caused_by: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class NoEnrollment:
    reason: str


DEFAULT_VARIANT = "default"
YEAR = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules need besides the change: the clock, the replay window, the customer's history."""

    now: datetime
    replay_window: timedelta
    history: Sequence[PastEnrollment] = field(default_factory=tuple)
    playbooks_by_id: dict[str, Playbook] = field(default_factory=dict)


def _matches(playbook: Playbook, change: StatusChange) -> bool:
    if not playbook.enabled:
        return False
    if change.to == FEATURE_RELEASED:
        return playbook.trigger.matches_release(change.tags, change.churn_reason)
    return playbook.trigger.matches(
        status=change.to, churn_reason=change.churn_reason, segment=change.segment, value_tier=change.value_tier
    )


def choose_playbook(change: StatusChange, playbooks: Sequence[Playbook]) -> Playbook | None:
    """The matching playbook with the highest priority (ties: the first listed)."""
    best: Playbook | None = None
    for p in playbooks:
        if _matches(p, change) and (best is None or p.priority > best.priority):
            best = p
    return best


def _bucket(kind: str, customer_id: str, playbook: Playbook) -> int:
    """A stable number in [0, 10000) per customer and playbook (same on every replica and replay)."""
    digest = hashlib.sha256(f"{kind}:{playbook.playbook_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def in_holdout(customer_id: str, playbook: Playbook) -> bool:
    return _bucket("holdout", customer_id, playbook) < round(playbook.holdout_percent * 100)


def choose_variant(customer_id: str, playbook: Playbook) -> str:
    """Weighted, deterministic by customer and playbook; independent of the holdout draw."""
    if not playbook.variants:
        return DEFAULT_VARIANT
    total = sum(v.weight for v in playbook.variants)
    point = _bucket("variant", customer_id, playbook) * total // 10_000
    for variant in playbook.variants:
        if point < variant.weight:
            return variant.name
        point -= variant.weight
    return playbook.variants[-1].name


def ineligible_reason(playbook: Playbook, change: StatusChange, ctx: Context) -> str | None:
    """Why the customer may not enrol in this playbook now, or None."""
    rules = playbook.eligibility
    if rules.winback_eligible and not change.winback_eligible:
        return "not_winback_eligible"
    # The yearly limit counts enrolments of the same family (win-back, or care of current customers).
    this_year = [h for h in ctx.history if h.started_at > ctx.now - YEAR and _is_winback(h, ctx) == playbook.is_winback]
    if len(this_year) >= rules.max_enrollments_per_year:
        return "yearly_limit"
    if playbook.is_winback and rules.exclude_failed_within_days > 0:
        since = ctx.now - timedelta(days=rules.exclude_failed_within_days)
        for h in ctx.history:
            past = ctx.playbooks_by_id.get(h.playbook_id)
            failed = h.status == "completed" and not h.holdout and (past is None or past.is_winback)
            if failed and h.ended_at is not None and h.ended_at >= since:
                return "recently_failed_winback"
    return None


def _is_winback(past: PastEnrollment, ctx: Context) -> bool:
    playbook = ctx.playbooks_by_id.get(past.playbook_id)
    return playbook is None or playbook.is_winback


def plan_enrollment(
    change: StatusChange,
    playbooks: Sequence[Playbook],
    *,
    now: datetime,
    has_active_enrollment: bool,
    replay_window: timedelta,
    history: Sequence[PastEnrollment] = (),
) -> EnrollmentPlan | NoEnrollment:
    """Apply the eligibility rules to one status change."""
    if change.at < now - replay_window:
        return NoEnrollment("outside_replay_window")
    playbook = choose_playbook(change, playbooks)
    if playbook is None:
        return NoEnrollment("not_winback_eligible" if not change.winback_eligible else "no_matching_playbook")
    if has_active_enrollment:
        return NoEnrollment("already_enrolled")
    ctx = Context(now, replay_window, history, {p.playbook_id: p for p in playbooks})
    reason = ineligible_reason(playbook, change, ctx)
    if reason is not None:
        return NoEnrollment(reason)
    holdout = in_holdout(change.customer_id, playbook)
    variant = choose_variant(change.customer_id, playbook)
    customer = {
        "value_tier": change.value_tier,
        "segment": change.segment,
        "reason": change.churn_reason,
        "kind": change.kind,
    }
    steps = tuple(
        _planned(step, change, now, holdout) for step in playbook.steps_for(variant) if step.applies(**customer)
    )
    return EnrollmentPlan(
        enrollment_id=enrollment_id_for(change.customer_id, playbook.playbook_id, change.source, change.event_id),
        customer_id=change.customer_id,
        playbook=playbook,
        variant=variant,
        holdout=holdout,
        trigger_at=change.at,
        steps=steps,
        churn_reason=change.churn_reason,
        feature=change.feature,
        caused_by=change.caused_by,
    )


def _planned(step: Step, change: StatusChange, now: datetime, holdout: bool) -> PlannedStep:
    due = max(change.at + step.after, now)
    wait = None
    if step.channel in QUIET_HOUR_CHANNELS:
        slot = next_quiet_hours_slot(due, change.time_zone, change.state)
        due, wait = (slot, "quiet_hours") if slot > due else (due, None)
    return PlannedStep(step, due, "holdout" if holdout else None, wait)


def exit_reason_for(change: StatusChange, active: Playbook | None, playbooks: Sequence[Playbook]) -> str | None:
    """The reason a change ends the active enrolment (in that playbook's `exit_on`), or None."""
    exit_on = active.exit_on if active is not None else frozenset({"won_back", "re_churn"})
    reason: str | None
    if change.to == "won_back":
        reason = "won_back"
    elif change.to in ("churned", "lapsed") and active is not None and not active.is_winback:
        reason = "re_churn"
    elif change.to == FEATURE_RELEASED:
        chosen = choose_playbook(change, playbooks)
        outranks = chosen is not None and (active is None or chosen.priority > active.priority)
        reason = "superseded" if outranks else None
    else:
        reason = None
    return reason if reason in exit_on else None
