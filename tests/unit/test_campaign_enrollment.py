"""Enrolment rules of campaign: eligibility, replay window, one active enrolment, exits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from winback_campaign.domain.batch import ActiveEnrollment, Enrolled, Exited, fold_status_changes
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS, WINBACK_BASIC
from winback_campaign.domain.enrollment import EnrollmentPlan, NoEnrollment, StatusChange, plan_enrollment

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)


def change(
    customer_id: str = "c1",
    *,
    to: str = "churned",
    at: datetime | None = None,
    eligible: bool = True,
    event_id: str = "e1",
) -> StatusChange:
    return StatusChange(
        customer_id=customer_id,
        to=to,
        at=at or NOW - timedelta(hours=1),
        winback_eligible=eligible,
        source="/winback/risk",
        event_id=event_id,
    )


def plan(c: StatusChange, *, active: bool = False) -> EnrollmentPlan | NoEnrollment:
    return plan_enrollment(c, BUILTIN_PLAYBOOKS, now=NOW, has_active_enrollment=active, replay_window=WINDOW)


def test_eligible_churn_enrols_in_winback_basic_with_step_due_now() -> None:
    result = plan(change())
    assert isinstance(result, EnrollmentPlan)
    assert result.playbook is WINBACK_BASIC
    assert not result.holdout
    [step] = result.steps
    assert step.step.channel == "email" and step.step.template == "we_miss_you"
    # due = trigger time + 0 days, but never before now
    assert step.due_at == NOW
    assert step.skipped_reason is None


def test_future_trigger_keeps_its_own_due_time() -> None:
    result = plan(change(at=NOW + timedelta(hours=2)))
    assert isinstance(result, EnrollmentPlan)
    assert result.steps[0].due_at == NOW + timedelta(hours=2)


def test_not_eligible_enrols_nobody() -> None:
    assert plan(change(eligible=False)) == NoEnrollment("not_winback_eligible")


def test_other_statuses_match_no_playbook() -> None:
    assert plan(change(to="active")) == NoEnrollment("no_matching_playbook")


def test_replay_window_boundary() -> None:
    assert isinstance(plan(change(at=NOW - WINDOW)), EnrollmentPlan)
    assert plan(change(at=NOW - WINDOW - timedelta(seconds=1))) == NoEnrollment("outside_replay_window")


def test_at_most_one_active_enrollment() -> None:
    assert plan(change(), active=True) == NoEnrollment("already_enrolled")


def test_enrollment_id_is_deterministic_per_trigger_event() -> None:
    first, again, other = plan(change()), plan(change()), plan(change(event_id="e2"))
    assert isinstance(first, EnrollmentPlan) and isinstance(again, EnrollmentPlan) and isinstance(other, EnrollmentPlan)
    assert first.enrollment_id == again.enrollment_id != other.enrollment_id


def test_batch_enrols_once_per_customer_and_won_back_exits() -> None:
    changes = [
        change("c1", event_id="a"),
        change("c1", event_id="b"),  # second churn while enrolled: ignored
        change("c2", event_id="c"),
        change("c2", to="won_back", event_id="d"),
        change("c3", to="won_back", event_id="e"),  # nothing active: nothing to exit
    ]
    outcome = fold_status_changes(changes, {}, BUILTIN_PLAYBOOKS, now=NOW, replay_window=WINDOW)
    kinds = [
        (type(e).__name__, e.plan.customer_id if isinstance(e, Enrolled) else e.enrollment.customer_id)
        for e in outcome.effects
    ]
    # A return ends the win-back and starts re-onboarding.
    assert kinds == [("Enrolled", "c1"), ("Enrolled", "c2"), ("Exited", "c2"), ("Enrolled", "c2"), ("Enrolled", "c3")]
    assert [reason for _, reason in outcome.skipped] == ["already_enrolled"]
    c2_plan = outcome.plans[1]
    assert outcome.exits == {c2_plan.enrollment_id: "won_back"}
    assert [p.playbook.playbook_id for p in outcome.plans[2:]] == ["re-onboarding", "re-onboarding"]


def test_batch_respects_enrollments_active_before_it() -> None:
    active = {"c1": ActiveEnrollment("enr-1", "c1", "winback-basic", "default")}
    outcome = fold_status_changes(
        [change("c1"), change("c1", to="won_back", event_id="x"), change("c1", event_id="y")],
        active,
        BUILTIN_PLAYBOOKS,
        now=NOW,
        replay_window=WINDOW,
    )
    assert isinstance(outcome.effects[0], Exited) and outcome.effects[0].enrollment.enrollment_id == "enr-1"
    # after the exit: re-onboarding; a churn during re-onboarding is a re-churn, and enrols again
    kinds = [
        (type(e).__name__, e.plan.playbook.playbook_id if isinstance(e, Enrolled) else e.reason)
        for e in outcome.effects
    ]
    assert kinds == [
        ("Exited", "won_back"),
        ("Enrolled", "re-onboarding"),
        ("Exited", "re_churn"),
        ("Enrolled", "winback-basic"),
    ]
