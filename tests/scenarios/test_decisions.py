"""Decisions a win-back manager would check, on the real services with the shipped playbooks.

Each test tells one customer's story against a background population of 300 customers (the
model fitted on it), lets the services act, and checks what they decided: status, value, value
tier, segment, playbook, the steps planned and their channels. Scenarios that the services get
wrong today are marked with the finding of issue 13 that makes them fail.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.histories import MONTH, Customer, days, minutes, months
from tests.support.world import PlannedStep, World
from winback_cli.stack import ServiceProcess

pytestmark = pytest.mark.scenario

AT_RISK_THRESHOLD = 0.5  # risk README: WINBACK_AT_RISK_SCORE


def steps(planned: list[PlannedStep]) -> list[tuple[str, str, str | None]]:
    """Step, channel and who carries it out (phone steps are tasks for a person)."""
    return [(s.step_id, s.channel, s.assignee) for s in planned]


def unhappy_framework_customer(customer_id: str, name: str) -> Customer:
    """A business buying for 1,500 EUR every month under a framework contract that ends in 45 days,
    with two complaints open for weeks and an NPS answer of 3 yesterday."""
    return (
        Customer(customer_id, kind="business")
        .with_profile(name=name, account_manager="Jens Ahrens")
        .ordered(1_500, times=18, last=days(20))
        .contract(started=months(23), ends_in=days(45))
        .ticket("complaint", opened=days(30))
        .ticket("complaint", opened=days(25))
        .survey("nps", 3, ago=days(1))
    )


def test_business_that_leaves_for_a_competitor_is_a_star_worth_a_call_and_a_letter(world: World):
    """A machine builder ordered for 48,000 EUR over two years and paid a 4,000 EUR/month contract
    for 20 months; it cancels because a competitor won it over.

    The relationship was worth 128,000 EUR (orders plus contract payments): one of the most valuable
    customers of the base (tier A), not a loss. The competitor playbook waits 90 days ("is the grass
    greener?"), then the account manager calls and a personal letter follows; migration help last.
    """
    acme = (
        Customer("acme-gmbh", kind="business")
        .with_profile(name="ACME Maschinenbau GmbH", account_manager="Petra Klein")
        .ordered(2_000, every=MONTH, times=24, last=days(20))
        .contract(4_000, started=months(20))
        .cancels("competitor", competitor="Konkurrenz AG")
    )
    world.play(acme)

    decision = world.decision("acme-gmbh")
    assert decision.status == "churned"
    assert decision.tier == "A"
    assert decision.segment == "star"
    assert decision.playbook == "grass-greener"
    assert decision.enrollments[0]["holdout"] is False
    assert steps(decision.steps) == [
        ("hello", "email", None),
        ("call", "phone", "account_manager"),
        ("letter", "post", None),
        ("migration", "email", None),
    ]
    assert decision.revenue == Decimal("128000.00")


def test_monthly_buyer_silent_for_five_intervals_is_lapsed_and_gets_a_reminder(world: World):
    """Max bought a 12 EUR refill every month for two years, then nothing for five months.

    Against his own rhythm he is five intervals overdue: lapsed, at risk by any measure (the risk
    score at least the at-risk threshold, the buying cycle named as the driver, p_alive well below
    1). A small customer (tier C): the sleeping-buyer playbook's personal reminder e-mail, nothing more.
    """
    max_ = Customer("monthly-buyer-max").with_profile(name="Max Berger").ordered(12, times=24, last=5 * MONTH)
    world.play(max_)

    decision = world.decision("monthly-buyer-max")
    assert decision.status == "lapsed"
    assert decision.revenue == Decimal("288.00")
    assert decision.customer["risk_score"] >= AT_RISK_THRESHOLD
    assert "buying_cycle" in decision.drivers
    assert decision.customer["p_alive"] < 0.5
    assert decision.tier == "C"
    assert decision.segment == "take_along"
    assert decision.playbook == "sleeping-buyer"
    assert steps(decision.steps) == [("reminder", "email", None)]


def test_low_value_one_time_buyer_who_went_quiet_gets_one_automated_email_at_most(world: World):
    """Lea bought once, for 19.90 EUR, fourteen months ago, and never again.

    What a head of retention expects: she is a sleeping customer. With one purchase she has no
    rhythm of her own, so her silence is measured against the base's typical interval between
    purchases (risk README, Status rules): many times over it, she is `lapsed`, overdue named as
    the driver, her risk at least the at-risk threshold. A small customer (tier C): the
    sleeping-buyer playbook's automated reminder e-mail, and nothing else: no letter, no call, no
    discount, because no personal contact pays for a 19.90 EUR customer (tier C: automated
    e-mail only).
    """
    lea = Customer("one-time-buyer-lea").with_profile(name="Lea Vogel").ordered(19.90, last=months(14))
    world.play(lea)

    decision = world.decision("one-time-buyer-lea", timeout_s=15)
    assert decision.status == "lapsed"
    assert decision.revenue == Decimal("19.90")
    assert decision.customer["risk_score"] >= AT_RISK_THRESHOLD
    assert decision.drivers[0] == "overdue"
    assert "no rhythm of their own; against the base's typical interval" in decision.customer["drivers"][0]["detail"]
    assert decision.customer["buying_cycle"]["mean_interval_days"] is None
    assert decision.tier == "C"
    assert decision.segment == "loss"
    assert decision.playbook == "sleeping-buyer"
    assert steps(decision.steps) == [("reminder", "email", None)]
    assert [s.offer for s in decision.steps] == [None]


def test_business_at_risk_with_open_tickets_and_a_contract_ending_gets_a_check_in_not_a_discount(world: World):
    """Nordwerk GmbH buys for 1,500 EUR every month under a framework contract that ends in 45
    days; two complaints have been open for weeks, and yesterday it answered the NPS survey with a 3.

    Still a customer, but at risk for reasons anyone can name (long-open tickets, the contract
    ending, a detractor): the at-risk check-in, with the account manager's call and a letter for a
    tier-A business, and no discount anywhere (check-in and feedback, not discounts).
    """
    nordwerk = unhappy_framework_customer("nordwerk-gmbh", "Nordwerk GmbH")
    world.play(nordwerk)

    decision = world.decision("nordwerk-gmbh")
    assert decision.status == "at_risk"
    assert {"tickets_open_long", "contract_end_near", "nps_detractor"} <= set(decision.drivers)
    assert decision.revenue == Decimal("27000.00")
    assert decision.tier == "A"
    assert decision.segment == "star"
    assert decision.playbook == "at-risk-check-in"
    assert steps(decision.steps) == [
        ("check-in", "email", None),
        ("call", "phone", "account_manager"),
        ("letter", "post", None),
    ]
    assert [s.offer for s in decision.steps] == [None, None, None]


def test_customer_who_forbids_contact_is_churned_and_never_contacted(world: World):
    """Paul, a member who bought for 840 EUR last year, cancels his membership for price and ticks
    "please do not contact me again".

    He is churned with his reason on record, not eligible for win-back, and no playbook enrols
    him: no step is planned and no action (not even a suppressed one) exists.
    """
    paul = (
        Customer("no-contact-paul")
        .with_profile(name="Paul Krause")
        .ordered(70, times=12, last=days(15))
        .contract(started=months(12))
        .confirmed_email_consent(ago=months(11))
        .cancels("price", no_contact=True)
    )
    world.play(paul)

    decision = world.decision("no-contact-paul", enrollments=0)
    assert decision.status == "churned"
    assert decision.customer["churn_reason"] == "price"
    assert decision.revenue == Decimal("840.00")
    # Well inside B (his value if won back sits between the base's B and A cut-offs, not on one).
    assert decision.tier == "B"
    assert decision.segment == "question_mark"
    assert decision.customer["winback_eligible"] is False
    assert decision.customer["winback_probability"] == 0
    assert decision.enrollments == []
    assert decision.actions == []


def test_won_back_customer_who_leaves_again_within_90_days_gets_an_apology_first(world: World):
    """Jonas is on an app's free plan and once bought credits for 45 EUR. He cancels over bad
    service, gets the apology, and comes back with a new plan three days later; a month on he
    cancels again, over service.

    Statuses in order: active, churned, won back, churned. The first win-back ends as won back and
    re-onboarding starts; the second cancellation ends re-onboarding as a re-churn. A head of
    retention wants the relationship repaired before anything is sold: the `we-are-sorry` playbook
    again (he was won back, so no failed win-back excludes him), the apology first and offer-free,
    dedicated onboarding three weeks later. A small customer who has left twice is in the `loss`
    quadrant (tier C, low chance), which costs nothing here: e-mail only, and the apology for a
    service failure is owed to every segment.
    """
    jonas = (
        Customer("rechurn-jonas")
        .with_profile(name="Jonas Richter")
        .ordered(45, last=months(7))
        .contract(started=months(14))
        .confirmed_email_consent(ago=months(13))
        .cancels("service")
    )
    world.play(jonas)
    world.decision("rechurn-jonas")
    world.pass_time(days(3))  # the apology goes out on day 2
    world.decision("rechurn-jonas", actions=1)
    world.play(Customer("rechurn-jonas").contract(started=minutes(1), contract_id="k2"))
    world.decision("rechurn-jonas", enrollments=2)
    world.pass_time(days(30))
    world.play(Customer("rechurn-jonas").cancels("service", contract_id="k2"))

    decision = world.decision("rechurn-jonas", enrollments=3)
    assert world.statuses("rechurn-jonas") == ["active", "churned", "won_back", "churned"]
    assert decision.status == "churned"
    assert decision.customer["churn_reason"] == "service"
    assert decision.revenue == Decimal("45.00")
    assert decision.tier == "C"
    assert decision.segment == "loss"
    assert [(e["playbook_id"], e["status"], e["exit_reason"]) for e in decision.enrollments] == [
        ("we-are-sorry", "active", None),
        ("re-onboarding", "exited", "re_churn"),
        ("we-are-sorry", "exited", "won_back"),
    ]
    assert decision.enrollments[0]["holdout"] is False
    assert steps(decision.steps) == [("apology", "email", None), ("onboarding", "email", None)]
    assert [s.offer for s in decision.steps] == [None, "dedicated_onboarding"]


def test_customer_with_confirmed_consent_who_cancels_right_after_a_fresh_start_gets_the_email(
    world: World, services: dict[str, ServiceProcess]
):
    """Lena confirmed her e-mail consent by double opt-in a year ago. Consent has just been restarted
    (a deployment, a crash) and has not caught up with the event stream when she cancels.

    Campaign must not settle her step on consent's stale state: she gets the e-mail, not a
    suppression for `unknown_customer`.
    """
    consent = services["consent"]
    consent.kill()
    consent.start()
    consent.wait_ready()
    lena = (
        Customer("fresh-start-lena")
        .with_profile(name="Lena Roth")
        .ordered(35, times=8, last=days(25))
        .contract(19, started=months(13))
        .confirmed_email_consent(ago=months(12))
        .cancels("other")
    )
    world.play(lena)

    decision = world.decision("fresh-start-lena", actions=1, timeout_s=60)
    assert decision.status == "churned"
    assert decision.playbook == "winback-basic"
    assert [(a["status"], a["channel"], a["reason"]) for a in decision.actions] == [("triggered", "email", None)]


def test_notice_that_reaches_winback_after_the_customer_was_scored_at_risk_still_churns_it(world: World):
    """Südblick GmbH buys for 1,500 EUR a month; two complaints stay open and it answers the NPS
    survey with a 3: winback scores it at risk and starts the check-in. Billing's nightly export
    then delivers the notice the customer gave two days earlier, for a competitor.

    The notice decides, not the score made without it: churned at the notice, the check-in ends, and
    the competitor win-back for a tier-A business starts (a call by the account manager, a letter).
    Before, the notice was dropped as older than the at-risk status, and the customer stayed at risk.
    """
    suedblick = unhappy_framework_customer("suedblick-gmbh", "Südblick GmbH")
    world.play(suedblick)
    assert world.decision("suedblick-gmbh").playbook == "at-risk-check-in"

    world.play(Customer("suedblick-gmbh").cancels("competitor", ago=days(2), competitor="Konkurrenz AG"))

    decision = world.decision("suedblick-gmbh", enrollments=2)
    assert world.statuses("suedblick-gmbh") == ["active", "at_risk", "churned"]
    assert decision.status == "churned"
    assert decision.customer["churn_reason"] == "competitor"
    assert decision.tier == "A"
    assert [(e["playbook_id"], e["status"]) for e in decision.enrollments] == [
        ("grass-greener", "active"),
        ("at-risk-check-in", "exited"),
    ]
    assert decision.enrollments[0]["holdout"] is False
    assert ("call", "phone", "account_manager") in steps(decision.steps)
