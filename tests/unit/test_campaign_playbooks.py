"""The shipped playbooks cover the spec's timing windows and channel mix; validation names the problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.enrollment import (
    EnrollmentPlan,
    StatusChange,
    choose_variant,
    in_holdout,
    plan_enrollment,
)
from winback_campaign.domain.offers import PRICE_REASONS, UNHAPPY_REASONS, is_discount, parse_offer
from winback_campaign.domain.playbooks import FEATURE_RELEASED, Playbook

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
BY_ID = {p.playbook_id: p for p in BUILTIN_PLAYBOOKS}
DAY = timedelta(days=1)


def enrol(
    to: str = "churned",
    reason: str | None = None,
    *,
    tier: str | None = "C",
    kind: str = "consumer",
    segment: str | None = "take_along",
    customer: str = "c1",
) -> EnrollmentPlan:
    change = StatusChange(
        customer_id=customer,
        to=to,
        at=NOW,
        winback_eligible=True,
        source="/winback/risk",
        event_id="e1",
        churn_reason=reason,
        segment=segment,
        value_tier=tier,
        kind=kind,
        tags=("sso",) if to == FEATURE_RELEASED else (),
    )
    plan = plan_enrollment(change, BUILTIN_PLAYBOOKS, now=NOW, has_active_enrollment=False, replay_window=DAY)
    assert isinstance(plan, EnrollmentPlan), plan
    return plan


def offsets(plan: EnrollmentPlan) -> list[int]:
    return [(s.step.after).days for s in plan.steps]


# One case per row of the spec's timing-window table.
def test_impulsive_price_or_service_leavers_are_contacted_within_7_days() -> None:
    for reason in ("price", "service"):
        plan = enrol(reason=reason, segment="star")
        assert plan.playbook.playbook_id == "quick-fix"
        assert all(0 <= d <= 7 for d in offsets(plan)) and plan.steps[0].step.template == "tell_us_what_went_wrong"


def test_temporary_reasons_get_the_first_contact_between_30_and_60_days() -> None:
    for reason in ("budget", "no_need", "moved", "life_change"):
        plan = enrol(reason=reason)
        assert plan.playbook.playbook_id == "situation-changed"
        first = min(s.step.after for s in plan.steps)
        assert 30 * DAY <= first <= 60 * DAY and plan.steps[0].step.template == "situation_changed"


def test_competitor_leavers_hear_from_us_after_90_days_without_disparagement() -> None:
    plan = enrol(reason="competitor")
    assert plan.playbook.playbook_id == "grass-greener" and min(offsets(plan)) == 90
    assert plan.steps[0].step.template == "grass_greener"


def test_feature_gap_waits_about_six_months_unless_the_feature_ships() -> None:
    fallback = enrol(reason="feature_gap")
    assert fallback.playbook.playbook_id == "feature-gap-fallback" and min(offsets(fallback)) == 180
    released = enrol(FEATURE_RELEASED, "feature_gap")
    assert released.playbook.playbook_id == "feature-released" and offsets(released)[0] == 0
    assert released.steps[0].step.template == "we_built_it"
    # The release playbook outranks the fallback, so a shipped feature supersedes the wait.
    assert BY_ID["feature-released"].priority > BY_ID["feature-gap-fallback"].priority


def test_budget_leavers_are_contacted_again_after_12_months() -> None:
    plan = enrol(reason="budget")
    assert 365 in offsets(plan)
    assert {s.step.template for s in plan.steps if s.step.after.days == 365} == {"budget_cycle"}


def test_unhappy_leavers_get_relationship_first_any_time() -> None:
    for reason in ("service", "quality", "disappointed", "neglected"):
        plan = enrol(reason=reason)
        assert plan.playbook.playbook_id == "we-are-sorry"
        first = plan.steps[0]
        assert first.step.template == "we_are_sorry" and first.step.offer is None


def test_lapsed_sleeping_buyers_get_a_personal_reminder() -> None:
    plan = enrol("lapsed")
    assert plan.playbook.playbook_id == "sleeping-buyer" and plan.steps[0].step.template == "personal_reminder"


def test_at_risk_customers_get_a_check_in_never_a_discount() -> None:
    plan = enrol("at_risk", tier="A", kind="business")
    assert plan.playbook.playbook_id == "at-risk-check-in" and plan.steps[0].step.template == "check_in"
    assert all(s.step.offer is None for s in plan.steps)


def test_returned_customers_get_re_onboarding_with_check_ins_at_30_60_90_days() -> None:
    plan = enrol("won_back")
    assert plan.playbook.playbook_id == "re-onboarding" and plan.steps[0].step.template == "welcome_back"
    assert {30, 60, 90} <= set(offsets(plan))


# Channel mix by value tier, in every shipped playbook and for every reason it serves.
def _reasons(playbook: Playbook) -> list[str | None]:
    reasons: list[str | None] = [*sorted(playbook.trigger.churn_reasons)]
    return reasons or [None]


def _all_plans(tier: str, kind: str) -> list[EnrollmentPlan]:
    plans = []
    for p in BUILTIN_PLAYBOOKS:
        to = p.trigger.status or FEATURE_RELEASED
        for reason in _reasons(p):
            segment = sorted(p.trigger.segments)[0] if p.trigger.segments else "take_along"
            plan = enrol(to, reason, tier=tier, kind=kind, segment=segment)
            if plan.playbook.playbook_id == p.playbook_id:
                plans.append(plan)
    return plans


def test_every_shipped_playbook_is_reachable() -> None:
    reached = {plan.playbook.playbook_id for plan in _all_plans("C", "consumer")}
    assert reached == set(BY_ID)


@pytest.mark.parametrize("kind", ["consumer", "business"])
def test_tier_c_gets_automated_email_only(kind: str) -> None:
    for plan in _all_plans("C", kind):
        assert {s.step.channel for s in plan.steps} == {"email"}, plan.playbook.playbook_id


@pytest.mark.parametrize("kind", ["consumer", "business"])
def test_tier_b_adds_a_letter(kind: str) -> None:
    for plan in _all_plans("B", kind):
        assert {s.step.channel for s in plan.steps} == {"email", "post"}, plan.playbook.playbook_id


def test_tier_a_business_adds_a_call_by_the_account_manager_and_a_letter() -> None:
    for plan in _all_plans("A", "business"):
        assert {s.step.channel for s in plan.steps} == {"email", "post", "phone"}, plan.playbook.playbook_id
        assert {s.step.assignee for s in plan.steps if s.step.channel == "phone"} == {"account_manager"}


def test_tier_a_consumer_gets_a_letter_but_no_call() -> None:
    for plan in _all_plans("A", "consumer"):
        assert {s.step.channel for s in plan.steps} == {"email", "post"}, plan.playbook.playbook_id


def test_discounts_only_for_price_or_budget_and_within_the_cap() -> None:
    for tier in ("A", "B", "C"):
        for plan in _all_plans(tier, "business"):
            for s in plan.steps:
                if s.step.offer and is_discount(s.step.offer):
                    assert plan.churn_reason in PRICE_REASONS and parse_offer(s.step.offer).percent <= 20
                if plan.churn_reason in UNHAPPY_REASONS and s.step.offer:
                    assert any(o.step.offer is None and o.step.after < s.step.after for o in plan.steps)


def test_non_price_reasons_get_the_matching_non_price_offer() -> None:
    offers = {r: {s.step.offer for s in enrol(reason=r).steps} - {None} for r in ("competitor", "quality", "neglected")}
    assert offers == {
        "competitor": {"migration_help"},
        "quality": {"money_back_guarantee"},
        "neglected": {"dedicated_onboarding"},
    }


def test_shipped_winback_playbooks_keep_a_10_percent_holdout() -> None:
    assert {p.holdout_percent for p in BUILTIN_PLAYBOOKS if p.is_winback} == {10}


def test_holdout_share_matches_the_setting_and_is_deterministic() -> None:
    playbook = BY_ID["winback-basic"]
    n = 20_000
    held = sum(in_holdout(f"cust-{i}", playbook) for i in range(n))
    # 10 % of 20,000: the binomial standard deviation is ~42, so +-200 is a > 4 sigma band.
    assert abs(held - n // 10) < 200
    assert [in_holdout(f"cust-{i}", playbook) for i in range(50)] == [
        in_holdout(f"cust-{i}", playbook) for i in range(50)
    ]
    holdout_plan = next(enrol(customer=f"cust-{i}") for i in range(n) if in_holdout(f"cust-{i}", playbook))
    assert holdout_plan.holdout and all(s.skipped_reason == "holdout" for s in holdout_plan.steps)


def test_variants_follow_their_weights_deterministically() -> None:
    playbook = BY_ID["situation-changed"]
    names = [choose_variant(f"cust-{i}", playbook) for i in range(10_000)]
    assert abs(names.count("early") - 5_000) < 250 and set(names) == {"control", "early"}
    early = next(f"cust-{i}" for i, v in enumerate(names) if v == "early")
    plan = enrol(reason="budget", customer=early)
    assert plan.variant == "early" and plan.steps[0].step.after == 30 * DAY


def _doc(**changes: object) -> dict[str, object]:
    base = BY_ID["grass-greener"].as_dict()
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {
                "steps": [
                    {
                        "step_id": "a",
                        "after": "P1D",
                        "channel": "email",
                        "template": "fix_offer",
                        "offer": "discount_15",
                    }
                ]
            },
            "only for reasons price or budget",
        ),
        (
            {
                "trigger": {"status": "churned", "churn_reasons": ["price"]},
                "steps": [
                    {
                        "step_id": "a",
                        "after": "P1D",
                        "channel": "email",
                        "template": "fix_offer",
                        "offer": "discount_30",
                    }
                ],
            },
            "policy cap",
        ),
        ({"steps": [{"step_id": "a", "after": "P1D", "channel": "phone", "template": "check_in"}]}, "needs 'assignee'"),
        ({"steps": [{"step_id": "a", "after": "P1D", "channel": "email", "template": "nope"}]}, "unknown template"),
        (
            {
                "steps": [
                    {"step_id": "a", "after": "P1D", "channel": "email", "template": "fix_offer", "offer": "free_beer"}
                ]
            },
            "unknown offer",
        ),
        (
            {
                "trigger": {"status": "churned", "churn_reasons": ["quality"]},
                "steps": [
                    {
                        "step_id": "a",
                        "after": "P1D",
                        "channel": "email",
                        "template": "fix_offer",
                        "offer": "money_back_guarantee",
                    }
                ],
            },
            "without an offer first",
        ),
        ({"trigger": {"status": "gone"}}, "trigger.status"),
        ({"trigger": {}}, "exactly one of 'status' or 'event'"),
        ({"holdout_percent": 120}, "holdout_percent"),
        ({"variants": [{"name": "x", "weight": 1, "steps": {"ghost": {"template": "check_in"}}}]}, "unknown steps"),
    ],
)
def test_invalid_playbooks_are_rejected_with_the_exact_problem(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        Playbook.model_validate(_doc(**changes))
    assert problem in str(info.value)


def test_a_playbook_round_trips_through_its_document() -> None:
    for playbook in BUILTIN_PLAYBOOKS:
        assert Playbook.model_validate(playbook.as_dict()) == playbook
