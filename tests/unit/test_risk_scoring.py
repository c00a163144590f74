"""Risk scores: statuses from the customer's own rhythm, every driver, quadrants, win-back probability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from winback_risk.domain.customer import CustomerState
from winback_risk.domain.drivers import RULES, signal_drivers
from winback_risk.domain.facts import Signal
from winback_risk.domain.lifecycle import apply_assessment
from winback_risk.domain.model.population import PRIOR, PopulationModel
from winback_risk.domain.scoring import (
    Assessment,
    CustomerFacts,
    OrderSummary,
    RiskConfig,
    assess_customers,
    combine,
    moved_materially,
)
from winback_risk.domain.winback import segment_of, winback_probability

NOW = datetime(2024, 6, 1, tzinfo=UTC)
CONFIG = RiskConfig()
TIERED = PopulationModel(purchases=PRIOR.purchases, spend=None, tier_cutoffs=(500.0, 100.0))


def day(n: float) -> datetime:
    return NOW - timedelta(days=n)


def buyer(every_days: float, orders: int, silent_days: float, amount: str = "50") -> OrderSummary:
    """`orders` purchases `every_days` apart, the last one `silent_days` before NOW."""
    last, first = day(silent_days), day(silent_days + every_days * (orders - 1))
    return OrderSummary(orders, orders, first, last, first, last, Decimal(amount) * orders)


def assess(orders: OrderSummary = OrderSummary(), *signals: Signal, status: str = "active", **kw: object) -> Assessment:
    facts = CustomerFacts("c1", status, orders, signals, **kw)  # type: ignore[arg-type]
    [a] = assess_customers([facts], TIERED, NOW, 90, CONFIG)
    return a


def sig(
    kind: str, days_ago: float, ref: str | None = None, value: float | None = None, label: str | None = None
) -> Signal:
    return Signal("c1", day(days_ago), kind, ref, value, label)


def test_lapsed_is_relative_to_the_customers_own_interval() -> None:
    monthly = assess(buyer(30, 12, 180))
    twice_a_year = assess(buyer(182, 4, 180))
    assert monthly.status == "lapsed" and monthly.cycle.overdue_ratio == pytest.approx(6, abs=0.1)
    assert twice_a_year.status != "lapsed" and twice_a_year.cycle.overdue_ratio == pytest.approx(1, abs=0.05)
    assert monthly.p_alive is not None and twice_a_year.p_alive is not None and monthly.p_alive < twice_a_year.p_alive
    assert monthly.churn_reason == "unknown" and monthly.churn_evidence == {"inferred": True, "evidence": []}


def test_recent_regular_buyer_is_active_and_model_scores_fill() -> None:
    a = assess(buyer(30, 12, 5))
    assert a.status == "active" and a.p_alive is not None and a.p_alive > 0.9
    assert a.expected_orders is not None and a.expected_orders > 1 and a.predicted_clv_12m is not None
    assert a.risk_score < CONFIG.at_risk_score and [d["factor"] for d in a.drivers] == ["buying_cycle"]


def test_behavioural_churn_needs_low_p_alive_a_long_absence_and_no_live_contract() -> None:
    gone = assess(buyer(30, 6, 400))
    assert gone.status == "churned" and gone.status_reasons == ("p_alive_below_threshold",)
    under_contract = assess(buyer(30, 6, 400), sig("contract_started", 500, "k1", label="2025-12-31"))
    assert under_contract.status == "lapsed"
    # A single purchase long ago: Pareto/NBD keeps p_alive of one-time buyers well above 0.1 for
    # years (no rhythm to break), so the buying-cycle driver makes them at_risk, not churned.
    single = assess(buyer(1, 1, 500))
    assert single.status == "at_risk" and single.cycle.overdue_ratio is None
    assert single.p_alive is not None and CONFIG.churn_p_alive < single.p_alive < 0.45


def test_at_risk_from_drivers_while_still_buying() -> None:
    a = assess(
        buyer(30, 10, 3),
        sig("ticket_opened", 40, "t1", label="complaint"),
        sig("ticket_opened", 20, "t2", label="complaint"),
        sig("survey", 10, value=2, label="nps"),
    )
    assert a.status == "at_risk" and a.status_reasons == ("risk_score_above_threshold",)
    assert {d["factor"] for d in a.drivers} >= {"complaints", "tickets_open_long", "nps_detractor"}
    assert sum(d["contribution"] for d in a.drivers) == pytest.approx(a.risk_score, abs=1e-3)


def test_contract_churn_and_won_back_come_from_the_stored_lifecycle() -> None:
    churned = assess(buyer(30, 3, 10), status="churned", churn_reason="price", churned_at=day(5))
    assert churned.status == "churned" and churned.churn_reason == "price"
    back = assess(buyer(30, 3, 1), status="won_back")
    assert back.status == "won_back"


@pytest.mark.parametrize(
    ("signals", "factor"),
    [
        ([sig("ticket_opened", 5, "t1", label="complaint")], "complaints"),
        ([sig("ticket_opened", 30, "t1", label="complaint"), sig("ticket_resolved", 20, "t1", label="unsolved")],
         "complaints"),
        ([sig("ticket_opened", 20, "t1", label="technical")], "tickets_open_long"),
        ([sig("survey", 10, value=4, label="nps")], "nps_detractor"),
        ([sig("survey", 10, value=1, label="csat")], "low_csat"),
        ([sig("ticket_opened", 12, "t1"), sig("ticket_resolved", 10, "t1", value=2, label="solved")], "low_csat"),
        ([*(sig("usage", d, "logins", 10) for d in (80, 70, 60, 50, 40)), sig("usage", 10, "logins", 2)],
         "falling_usage"),
        ([sig("contract_started", 300, "k1", label=(NOW + timedelta(days=30)).date().isoformat())],
         "contract_end_near"),
        ([sig("contact", d, f"a{d}", label="delivered") for d in (1, 5, 9, 20)], "over_contacted"),
        ([sig("return", 15, "o1", 20.0)], "returns"),
    ],
)  # fmt: skip
def test_every_driver_fires_on_its_signal(signals: list[Signal], factor: str) -> None:
    assert factor in {d.factor for d in signal_drivers(signals, NOW)}


@pytest.mark.parametrize(
    "signals",
    [
        [sig("ticket_opened", 5, "t1", label="complaint"), sig("ticket_resolved", 4, "t1", value=5, label="solved")],
        [sig("ticket_opened", 5, "t1", label="technical")],
        [sig("survey", 10, value=9, label="nps"), sig("survey", 10, value=4, label="csat")],
        [*(sig("usage", d, "logins", 10) for d in (70, 40)), sig("usage", 10, "logins", 10)],
        [sig("contract_started", 300, "k1", label="2024-07-01"), sig("contract_renewed", 5, "k1", label="2025-07-01")],
        [sig("contact", d, f"a{d}", label="delivered") for d in (1, 5, 40, 50)],
        [sig("return", 400, "o1", 20.0)],
        [sig("ticket_opened", -3, "t9", label="complaint")],  # after as_of: not yet known
    ],
)
def test_no_driver_fires_without_cause(signals: list[Signal]) -> None:
    assert signal_drivers(signals, NOW) == []


def test_all_drivers_are_covered() -> None:
    assert len(RULES) == 8


def test_churn_reason_is_inferred_with_evidence_when_none_was_given() -> None:
    a = assess(buyer(30, 12, 180), *(sig("contact", d, f"a{d}", label="delivered") for d in (170, 175, 178, 179, 185)))
    assert a.status == "lapsed"
    # Contacts 170+ days ago are outside the 30-day window of as_of: the reason stays unknown.
    assert a.churn_reason == "unknown"
    b = assess(buyer(30, 12, 180), sig("ticket_opened", 150, "t1", label="complaint"))
    assert b.churn_reason == "disappointed" and b.churn_evidence is not None
    assert b.churn_evidence["evidence"][0]["factor"] == "complaints"


@pytest.mark.parametrize(
    ("tier", "probability", "segment"),
    [("A", 0.5, "star"), ("B", 0.1, "question_mark"), ("C", 0.5, "take_along"), ("C", 0.1, "loss"), (None, 0.9, None)],
)
def test_quadrants(tier: str | None, probability: float, segment: str | None) -> None:
    assert segment_of(tier, probability, "AB", 0.3) == segment


def test_winback_probability_rules() -> None:
    base = dict(eligible=True, occasions=2, live_usage=False, failed_winbacks=0, churned_at=NOW, as_of=NOW)
    situational = winback_probability("budget", **base)  # type: ignore[arg-type]
    fundamental = winback_probability("quality", **base)  # type: ignore[arg-type]
    assert situational > fundamental
    assert winback_probability("budget", **{**base, "occasions": 5}) > situational  # type: ignore[arg-type]
    assert winback_probability("budget", **{**base, "occasions": 1}) < situational  # type: ignore[arg-type]
    assert winback_probability("budget", **{**base, "failed_winbacks": 1}) < situational  # type: ignore[arg-type]
    assert winback_probability("budget", **{**base, "churned_at": day(700)}) < situational  # type: ignore[arg-type]
    assert winback_probability("budget", **{**base, "eligible": False}) == 0  # type: ignore[arg-type]


def test_combine_is_a_noisy_or_whose_contributions_sum_to_the_score() -> None:
    from winback_risk.domain.drivers import Driver

    score, drivers = combine([Driver("a", 0.5, ""), Driver("b", 0.5, "")])
    assert score == pytest.approx(0.75) and sum(d["contribution"] for d in drivers) == pytest.approx(0.75)
    assert combine([]) == (0.0, [])


def test_material_change_threshold() -> None:
    assert moved_materially(None, 0.15, CONFIG) and not moved_materially(0.2, 0.25, CONFIG)
    assert moved_materially(0.45, 0.52, CONFIG)  # crossed the at-risk threshold


def test_assessment_moves_publish_once_and_never_leave_churned() -> None:
    state = CustomerState("c1", status="active", status_since=day(100))
    change = apply_assessment(state, "lapsed", ("overdue_vs_own_interval",), day(1))
    assert change is not None and (change.from_status, change.to_status) == ("active", "lapsed")
    assert apply_assessment(state, "lapsed", ("overdue_vs_own_interval",), NOW) is None
    churn = apply_assessment(state, "churned", ("p_alive_below_threshold",), NOW, churn_reason="neglected")
    assert churn is not None and state.churn_count == 1 and state.churn_reason == "neglected"
    assert apply_assessment(state, "active", (), NOW + timedelta(days=1)) is None
    # An assessment older than the current status changes nothing.
    fresh = CustomerState("c2", status="active", status_since=NOW)
    assert apply_assessment(fresh, "at_risk", (), day(1)) is None


def test_same_facts_give_the_same_assessment() -> None:
    signals = (sig("ticket_opened", 20, "t1", label="complaint"), sig("survey", 3, value=3, label="nps"))
    first, second = assess(buyer(30, 5, 50), *signals), assess(buyer(30, 5, 50), *signals)
    assert first == second
