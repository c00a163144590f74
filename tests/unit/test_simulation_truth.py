"""The simulated business's ground truth: potential outcomes from common random numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.simulated_campaign import FakeCampaign
from winback_cli.simulation.business import Business
from winback_cli.simulation.hazard import INF, Base, Interval, crossing
from winback_cli.simulation.params import SimParams

START = datetime(2025, 1, 1, tzinfo=UTC)
RETURN_TYPES = {"order.placed", "contract.started", "contract.renewed"}
# Many contract customers who leave, so a few hundred enrolments in a short run.
BUSY = SimParams(contract_share_consumer=0.9, contract_share_business=0.9, cancel_hazard_per_month=0.08)


def simulate(params: SimParams, customers: int = 1200, months: int = 9, seed: int = 4) -> tuple[Business, FakeCampaign]:
    end = START + timedelta(days=round(months * 30.4375))
    business = Business(customers=customers, seed=seed, start=START, end=end, params=params)
    campaign = FakeCampaign(business)
    campaign.run(START.date(), end.date())
    return business, campaign


@pytest.fixture(scope="module")
def default_run() -> tuple[Business, FakeCampaign, dict[str, Any]]:
    business, campaign = simulate(BUSY)
    return business, campaign, business.truth()


def test_without_any_effect_of_contacts_the_true_uplift_is_exactly_zero() -> None:
    business, campaign = simulate(replace(BUSY, effect_scale=0.0))
    truth = business.truth()
    assert campaign.actions > 100
    assert truth["uplift"]["overall"]["enrolled"] > 200
    assert truth["uplift"]["overall"]["true"] == 0.0
    assert all(p["true"] == 0.0 for p in truth["uplift"]["by_playbook"].values())
    # Not merely on average: each customer's two outcomes are the same day.
    assert all(e["won_back_if_treated"] == e["won_back_if_held_out"] for e in truth["enrollments"])


def test_with_strong_contacts_the_true_uplift_is_positive_and_no_outcome_gets_worse() -> None:
    strong = replace(BUSY, channel_lift={"email": 30.0, "post": 30.0, "phone": 30.0})
    business, _ = simulate(strong)
    truth = business.truth()
    assert truth["uplift"]["overall"]["true"] > 0.1
    for e in truth["enrollments"]:
        if e["won_back_if_held_out"] is not None:
            assert e["won_back_if_treated"] is not None
            assert e["won_back_if_treated"] <= e["won_back_if_held_out"]


def test_the_treated_outcome_of_a_contacted_customer_is_what_happened(default_run: Any) -> None:
    _, campaign, truth = default_run
    returns: dict[str, list[str]] = {}
    for e in campaign.events:
        if e["type"] in RETURN_TYPES:
            returns.setdefault(e["data"]["customer_id"], []).append(e["time"])
    checked = 0
    for e in truth["enrollments"]:
        if e["holdout"]:
            continue
        later = sorted(t for t in returns.get(e["customer_id"], []) if t > e["at"])
        happened = later[0] if later else None
        assert e["won_back_if_treated"] == happened, e
        checked += 1
    assert checked > 100


def test_the_held_out_outcome_of_a_held_out_customer_is_what_happened(default_run: Any) -> None:
    _, campaign, truth = default_run
    returns: dict[str, list[str]] = {}
    for e in campaign.events:
        if e["type"] in RETURN_TYPES:
            returns.setdefault(e["data"]["customer_id"], []).append(e["time"])
    held = [e for e in truth["enrollments"] if e["holdout"]]
    assert len(held) > 100
    for e in held:
        later = sorted(t for t in returns.get(e["customer_id"], []) if t > e["at"])
        assert e["won_back_if_held_out"] == (later[0] if later else None), e
    # The counterfactual of a held-out customer is contacted as the playbook contacts the others.
    treated = [e for e in truth["enrollments"] if not e["holdout"]]
    held_share = sum(e["contacts_if_treated"] > 0 for e in held) / len(held)
    treated_share = sum(e["contacts_if_treated"] > 0 for e in treated) / len(treated)
    assert held_share == pytest.approx(treated_share, abs=0.08)
    assert held_share > 0.5


def test_default_lifts_give_a_positive_effect_and_the_sample_agrees(default_run: Any) -> None:
    _, _, truth = default_run
    overall = truth["uplift"]["overall"]
    assert 0.0 < overall["true"] < 0.5
    assert overall["rate_if_treated"] - overall["rate_if_held_out"] == pytest.approx(overall["true"])
    assert 0.0 < overall["contact_rate_if_treated"] <= 1.0


def test_returns_never_come_before_the_churn(default_run: Any) -> None:
    _, _, truth = default_run
    assert truth["returned"]
    for churn in truth["churns"]:
        if churn["returned_at"] is not None:
            assert churn["returned_at"] > churn["at"]
    for customer_id, at in truth["returned"].items():
        assert at > truth["churned"][customer_id]["at"]


def test_no_contact_of_the_campaign_lacks_a_basis_in_the_record(default_run: Any) -> None:
    _, campaign, truth = default_run
    assert campaign.actions == len(truth["contacts"])
    assert truth["contacts_without_basis"] == 0
    assert truth["params"]["hazard_factors"] == SimParams().hazard_factors


def test_an_objection_closes_the_channel_until_a_new_express_consent() -> None:
    business = Business(customers=1, seed=1, start=START, end=START + timedelta(days=60))
    for offset in range(60):
        business.events_for_day(START.date() + timedelta(days=offset))
    record = business.states[0].consent
    from winback_cli.simulation.consents import Entry

    record.add(Entry(10.0, "grant", "email", kind="express", method="double_opt_in", confirmed=True))
    assert record.basis("email", 11.0) == "express_consent"
    record.add(Entry(12.0, "objection", "all"))
    assert record.basis("email", 13.0) is None
    assert record.basis("post", 13.0) is None
    record.add(Entry(14.0, "grant", "email", kind="express", method="written", confirmed=True))
    assert record.basis("email", 15.0) == "express_consent"
    assert record.basis("post", 15.0) is None


def test_the_clock_crossing_matches_the_closed_forms() -> None:
    at, _ = crossing(Base(0.5), 2.0, INF, 1.0)
    assert at == pytest.approx(4.0)
    # A lift of 2 on [3, 10): half the hazard is gathered on [2, 3), the other half in a quarter day.
    at, _ = crossing(Base(0.5), 2.0, INF, 1.0, (), [Interval(3.0, 10.0, 2.0)])
    assert at == pytest.approx(3.5)
    decaying = Base(0.01, origin=0.0, decay=100.0)
    at, _ = crossing(decaying, 0.0, INF, 0.5)
    assert at == pytest.approx(-100.0 * __import__("math").log(1 - 0.5 / (0.01 * 100.0)))
    assert crossing(decaying, 0.0, INF, 1.5) == (None, pytest.approx(1.0))


def _business_run_for(days: int) -> Business:
    """Forty customers over a 60-day run, generated for the first `days` days."""
    business = Business(customers=40, seed=2, start=START, end=START + timedelta(days=60))
    for offset in range(days):
        business.events_for_day(START.date() + timedelta(days=offset))
    return business


def test_a_tool_answer_dated_after_the_generated_day_comes_with_that_days_events() -> None:
    business = _business_run_for(20)
    state = next(s for s in business.states if s.lives)
    at = business.at(19.99)  # late on the last generated day: an open comes the next day or later
    answers: list[dict[str, Any]] = []
    for n in range(40):
        answers += business.on_action({
            "type": "action.triggered", "time": at.isoformat(),
            "data": {"action_id": f"a{n}", "customer_id": state.customer.customer_id, "channel": "email",
                     "template": "we_miss_you", "playbook_id": "winback-basic", "enrollment_id": "e1"},
        })  # fmt: skip
    assert answers
    assert all(datetime.fromisoformat(a["time"]) < START + timedelta(days=20) for a in answers)
    assert all(a["time"] >= at.isoformat() for a in answers)
    later = business.events_for_day((START + timedelta(days=20)).date())
    assert any(e["type"] == "campaign.response" and e["data"]["outcome"] == "opened" for e in later)


def test_a_doi_confirmation_message_is_confirmed_by_some_customers() -> None:
    business = _business_run_for(5)
    confirmations = []
    for index, state in enumerate(business.states):
        if not state.lives:
            continue
        at = business.at(4.2)
        out = business.on_action({
            "type": "action.triggered", "time": at.isoformat(),
            "data": {"action_id": f"doi-{index}", "customer_id": state.customer.customer_id, "channel": "email",
                     "template": "doi_confirmation", "playbook_id": "consent.double_opt_in",
                     "enrollment_id": f"doi-{index}", "content": {"text_version": "v7"}},
        })  # fmt: skip
        confirmations += [e for e in out if e["type"] == "consent.granted"]
        confirmed = bool([e for e in out if e["type"] == "consent.granted"])
        when = at + timedelta(hours=13)
        assert (
            business.consent_basis_at(state.customer.customer_id, "email", when) == "express_consent"
        ) or not confirmed
    assert 0 < len(confirmations) < len(business.states)
    assert all(e["data"]["method"] == "double_opt_in" and e["data"]["evidence"]["text_version"] == "v7"
               for e in confirmations)  # fmt: skip


def test_an_erased_customer_sends_nothing_more_and_has_no_basis() -> None:
    params = SimParams(erasure_rate=1 / 30)
    business = Business(customers=50, seed=9, start=START, end=START + timedelta(days=120), params=params)
    events: list[dict[str, Any]] = []
    erasures: list[tuple[str, datetime]] = []
    for offset in range(120):
        day = START.date() + timedelta(days=offset)
        events += business.events_for_day(day)
        erasures += business.erasures_for_day(day)
    assert erasures
    for customer_id, at in erasures:
        assert not [e for e in events if e["data"].get("customer_id") == customer_id and e["time"] > at.isoformat()]
        assert business.consent_basis_at(customer_id, "post", at + timedelta(seconds=1)) is None
    assert set(business.truth()["erasures"]) == {c for c, _ in erasures}


def test_a_held_out_customer_is_counterfactually_contacted_exactly_as_the_campaign_contacts_them() -> None:
    # Same customers twice, contacts without effect (so both runs live the same lives): once nobody is
    # held out, once everybody. The derived contacts of the second run are the real ones of the first.
    from winback_cli.simulation.truth import counterfactual_contacts

    params = replace(BUSY, effect_scale=0.0)
    end = START + timedelta(days=200)
    runs = []
    for share in (0.0, 1.0):
        business = Business(customers=500, seed=12, start=START, end=end, params=params)
        FakeCampaign(business, holdout_share=share).run(START.date(), end.date())
        runs.append(business)
    contacted, held = runs
    compared = 0
    for real_state, held_state in zip(contacted.states, held.states, strict=True):
        if not real_state.enrollments:
            continue
        first = min(real_state.enrollments.values(), key=lambda e: e.at)
        real = [(x.at, x.channel, x.template) for x in real_state.contacts if x.enrollment_id == first.enrollment_id]
        enrollment = held_state.enrollments[first.enrollment_id]
        assert enrollment.holdout
        derived = [(x.at, x.channel, x.template) for x in counterfactual_contacts(held, held_state, enrollment, [])]
        assert [(round(t, 6), c, tpl) for t, c, tpl in derived] == [(round(t, 6), c, tpl) for t, c, tpl in real]
        compared += 1
    assert compared > 100


def test_risks_own_lifecycle_rules_see_the_true_churns_and_returns_of_contract_customers(default_run: Any) -> None:
    from winback_risk.domain.lifecycle import apply_batch
    from winback_shared.events.registry import parse_event

    _, campaign, truth = default_run
    changes = apply_batch({}, [parse_event(e) for e in campaign.events])
    churned = sorted((c.customer_id, c.at.isoformat()) for c in changes if c.to_status == "churned")
    won_back = sorted((c.customer_id, c.at.isoformat()) for c in changes if c.to_status == "won_back")
    contract = [c for c in truth["churns"] if c["kind"] == "contract"]
    assert churned == sorted((c["customer_id"], c["at"]) for c in contract)
    assert won_back == sorted((c["customer_id"], c["returned_at"]) for c in contract if c["returned_at"])
    assert won_back


def test_shop_buyers_enrolled_when_quiet_have_both_outcomes_as_they_happen() -> None:
    # Shop buyers only, "churned" after 60 quiet days: some have truly dropped out (the return clock
    # decides), some are only slow (their next order decides); either way what happened is the outcome
    # of their own arm, and the other arm differs only by the contacts.
    params = SimParams(contract_share_consumer=0.0, contract_share_business=0.0)
    end = START + timedelta(days=300)
    business = Business(customers=800, seed=6, start=START, end=end, params=params)
    campaign = FakeCampaign(business, shop_churn_after_days=60)
    campaign.run(START.date(), end.date())
    truth = business.truth()
    orders: dict[str, list[str]] = {}
    for e in campaign.events:
        if e["type"] == "order.placed":
            orders.setdefault(e["data"]["customer_id"], []).append(e["time"])
    enrollments = truth["enrollments"]
    assert len(enrollments) > 200
    for e in enrollments:
        later = sorted(t for t in orders.get(e["customer_id"], []) if t > e["at"])
        happened = later[0] if later else None
        assert e["won_back_if_held_out" if e["holdout"] else "won_back_if_treated"] == happened, e
        if e["won_back_if_held_out"] is not None:
            assert e["won_back_if_treated"] is not None
            assert e["won_back_if_treated"] <= e["won_back_if_held_out"]
    still_buying = [e for e in enrollments if e["customer_id"] not in truth["dropouts"]]
    assert still_buying  # slow buyers taken for churned are part of the test
    assert truth["uplift"]["overall"]["true"] > 0.0


def test_tool_answers_validate_and_the_truth_is_json(default_run: Any) -> None:
    import json

    from winback_ingest.domain.validation import validate_batch

    _, campaign, truth = default_run
    answers = [e for e in campaign.events if e["type"] == "campaign.response"]
    assert {e["data"]["outcome"] for e in answers} >= {"delivered", "opened", "bounced"}
    _, errors = validate_batch(campaign.events)
    assert errors == []
    assert len({(e["source"], e["id"]) for e in campaign.events}) == len(campaign.events)
    decoded = json.loads(json.dumps(truth, allow_nan=False))
    assert decoded["uplift"]["overall"]["true"] == truth["uplift"]["overall"]["true"]


def test_a_letters_only_objection_leaves_the_existing_customer_exception_for_e_mail() -> None:
    """As consent's decision table (note row): §7(3) UWG ends when the customer objects to *this* use.

    The 20,000-customer run counted a §7(3) e-mail to a customer who had objected to letters only as
    a violation: the simulator's record, not consent, was wrong.
    """
    from winback_cli.simulation.consents import ConsentRecord, Entry, Relationship

    record = ConsentRecord("consumer", Relationship(contract=True, contract_spells=[(0.0, None)]))
    record.add(Entry(0.0, "grant", "email", kind="existing_customer_notice"))
    record.add(Entry(5.0, "objection", "post"))
    assert record.basis("email", 6.0, category_unknown=True) == "existing_customer_exception"
    assert record.basis("post", 6.0) is None
    record.add(Entry(7.0, "objection", "email"))
    record.add(Entry(8.0, "grant", "email", kind="existing_customer_notice"))
    assert record.basis("email", 9.0, category_unknown=True) is None  # lost for good


def test_a_revocation_before_the_doi_confirmation_leaves_the_confirmed_consent() -> None:
    """The record is written when the facts are drawn, not in the order they happen.

    At sign-up the simulator draws the web form and the DOI confirmation hours later; a revocation
    drawn afterwards can fall between the two. Consent applies them in time order (form, revocation,
    confirmation: ALLOW). The 100,000-customer run flagged 16 e-mails to three such customers as
    without a basis: the simulator's record read them in drawing order.
    """
    from winback_cli.simulation.consents import ConsentRecord, Entry, Relationship

    record = ConsentRecord("consumer", Relationship(contract=False))
    record.add(Entry(0.0, "grant", "email", kind="express", method="web_form"))
    record.add(Entry(0.9, "grant", "email", kind="express", method="double_opt_in", confirmed=True))
    record.add(Entry(0.4, "revoke", "email"))
    assert record.basis("email", 0.5) is None
    assert record.basis("email", 1.0) == "express_consent"


def test_a_returned_subscribers_true_recovered_revenue_is_what_metrics_rule_reads_from_the_events(
    default_run: Any,
) -> None:
    """truth.recovered_after from the simulator's own record equals metrics' rule applied to the events sent."""
    from collections import defaultdict
    from decimal import Decimal

    from winback_metrics.domain.facts import facts_of
    from winback_shared.contracts import contract_runs, periods_in
    from winback_shared.events.registry import parse_event

    business, campaign, truth = default_run
    facts = facts_of([parse_event(e) for e in campaign.events], {}, Decimal(0))
    by_customer = defaultdict(list)
    for fact in facts.contracts:
        by_customer[fact.customer_id].append(fact)
    end = business.at(business.horizon) + timedelta(microseconds=1)
    returned = [c for c in truth["churns"] if c["kind"] == "contract" and c["returned_at"]]
    returns_of = defaultdict(list)
    for c in returned:
        returns_of[c["customer_id"]].append(datetime.fromisoformat(c["returned_at"]))
    assert len(returned) > 20
    for churn in returned:
        back = datetime.fromisoformat(churn["returned_at"])
        later = [r for r in returns_of[churn["customer_id"]] if r > back]
        runs = contract_runs(by_customer[churn["customer_id"]])
        paid = sum(r.monthly_value * periods_in(r, back, min([*later, end])) for r in runs)
        assert churn["recovered_revenue"] == pytest.approx(float(paid), abs=0.005), churn
        assert churn["recovered_margin"] == churn["recovered_revenue"]  # contracts carry no cost
