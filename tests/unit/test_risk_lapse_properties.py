"""Lapse is risk: status, p_alive and risk_score never contradict each other (properties over generated histories)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from winback_risk.domain.drivers import has_live_contract
from winback_risk.domain.facts import Signal
from winback_risk.domain.model.gamma_gamma import GammaGamma
from winback_risk.domain.model.pareto_nbd import ParetoNBD
from winback_risk.domain.model.population import PRIOR, PopulationModel
from winback_risk.domain.scoring import Assessment, CustomerFacts, OrderSummary, RiskConfig, assess_customers

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
CONFIG = RiskConfig()
MODELS = {
    "prior": PRIOR,
    # Finding 3: fitted on a base where nobody has dropped out yet, the model says nobody ever does
    # (p_alive 1.00 for everyone). Lapse must still be risk.
    "no_dropouts": PopulationModel(
        purchases=ParetoNBD(r=2.0, alpha=60.0, s=0.01, beta=1e7),
        spend=GammaGamma(p=6.25, q=3.74, gamma=15.44),
        tier_cutoffs=(400.0, 150.0),
    ),
    # A fitted base that buys about monthly: one-time buyers are measured against its typical interval.
    "typical_interval": replace(PRIOR, typical_interval_days=30.0, tier_cutoffs=(400.0, 150.0)),
}
STATUSES = ("active", "active", "at_risk", "lapsed", "churned", "won_back")
SIGNAL_KINDS = ("ticket_opened", "ticket_resolved", "survey", "usage", "contract_started", "contract_cancelled",
                "contact", "return")  # fmt: skip


def midnight(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def rhythm(every_days: float, occasions: int, silent_days: float) -> OrderSummary:
    """`occasions` purchases `every_days` apart, the last `silent_days` before NOW."""
    last = NOW - timedelta(days=silent_days)
    first = last - timedelta(days=every_days * (occasions - 1))
    revenue = Decimal(40) * occasions
    return OrderSummary(occasions, occasions, first, last, midnight(first), midnight(last), revenue, revenue / 4, True)


def assess(orders: OrderSummary, model: str, status: str = "active", signals: tuple[Signal, ...] = ()) -> Assessment:
    churned_at = NOW - timedelta(days=30) if status in ("churned", "won_back") else None
    facts = CustomerFacts("c1", status, orders, signals, churned_at=churned_at)  # type: ignore[arg-type]
    [a] = assess_customers([facts], MODELS[model], NOW, 90, CONFIG, value_basis="margin")
    return a


@settings(max_examples=150, deadline=None)
@given(
    every=st.floats(min_value=3, max_value=60),
    occasions=st.integers(min_value=3, max_value=40),
    overdue=st.floats(min_value=5, max_value=9),
    model=st.sampled_from(sorted(MODELS)),
)
def test_a_regular_buyer_silent_five_intervals_is_lapsed_and_at_risk(
    every: float, occasions: int, overdue: float, model: str
) -> None:
    silent = every * overdue
    a = assess(rhythm(every, occasions, silent), model)
    if a.status == "churned":
        # Gone for a year with p_alive below the threshold: lost by behaviour, which outranks lapsed.
        assert a.status_reasons == ("p_alive_below_threshold",) and silent >= CONFIG.churn_min_days
        assert a.p_alive is not None and a.p_alive < CONFIG.churn_p_alive
    else:
        assert a.status == "lapsed" and a.status_reasons == ("overdue_vs_own_interval",)
    assert a.risk_score >= CONFIG.at_risk_score
    overdue_driver = [d for d in a.drivers if d["factor"] == "overdue"]
    assert overdue_driver and overdue_driver[0]["contribution"] > 0


def test_the_monthly_buyer_of_finding_3_is_lapsed_with_risk_even_when_the_model_sees_no_dropouts() -> None:
    a = assess(rhythm(30, 24, 150), "no_dropouts")
    assert a.p_alive is not None and a.p_alive > 0.99  # the model's view, unchanged
    assert a.status == "lapsed" and a.risk_score >= 0.7
    assert a.drivers[0]["factor"] == "overdue" and a.drivers[0]["detail"] == "5x own interval of 30 days"


@st.composite
def signals(draw: st.DrawFn) -> tuple[Signal, ...]:
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        kind = draw(st.sampled_from(SIGNAL_KINDS))
        at = NOW - timedelta(days=draw(st.floats(min_value=0, max_value=500)))
        label = {"ticket_opened": "complaint", "survey": draw(st.sampled_from(["nps", "csat"]))}.get(kind)
        amount = Decimal(draw(st.integers(min_value=0, max_value=900))) if kind == "contract_started" else None
        value = float(draw(st.integers(min_value=0, max_value=10)))
        out.append(Signal("c1", at, kind, draw(st.sampled_from(["r0", "r1"])), value, label, amount))
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(
    every=st.floats(min_value=0.5, max_value=400),
    occasions=st.integers(min_value=1, max_value=60),
    silent=st.floats(min_value=0, max_value=1500),
    status=st.sampled_from(STATUSES),
    model=st.sampled_from(sorted(MODELS)),
    extra=signals(),
)
def test_status_p_alive_and_risk_never_contradict_each_other(
    every: float, occasions: int, silent: float, status: str, model: str, extra: tuple[Signal, ...]
) -> None:
    a = assess(rhythm(every, occasions, silent), model, status, extra)
    ratio, since = a.cycle.overdue_ratio, a.cycle.days_since_last_order
    has_rhythm = ratio is not None and occasions >= CONFIG.lapsed_min_occasions
    # No rhythm of their own (one purchase occasion) and no contract running: the base's typical
    # interval, when the model has one.
    typical = MODELS[model].typical_interval_days
    no_rhythm = occasions == 1 and typical and since is not None and not has_live_contract(extra, NOW)
    against_base = round(since / typical, 3) if no_rhythm and typical and since is not None else None
    # Risk and status agree: anyone not active has a risk at or above the at-risk threshold, and back.
    if a.status in ("at_risk", "lapsed", "churned"):
        assert a.risk_score >= CONFIG.at_risk_score
    else:
        assert a.status in ("active", "won_back") and a.risk_score < CONFIG.at_risk_score
    # Overdue against the own rhythm (or, without one, the base's) is a driver whenever it applies, and only then.
    overdue = {d["factor"]: d["contribution"] for d in a.drivers}.get("overdue")
    own_overdue = has_rhythm and ratio is not None and ratio > 1.0
    base_overdue = against_base is not None and against_base > 1.0
    assert (overdue is not None and overdue > 0) == (own_overdue or base_overdue)
    # Lapsed exactly when overdue by the configured ratio (unless churned outranks it).
    lapses_own = has_rhythm and ratio is not None and ratio >= CONFIG.lapsed_overdue_ratio
    lapses_base = against_base is not None and against_base >= CONFIG.lapsed_overdue_ratio
    if a.status != "churned":
        assert (a.status == "lapsed") == (lapses_own or lapses_base)
        if a.status == "lapsed":
            reason = "overdue_vs_own_interval" if lapses_own else "overdue_vs_typical_interval"
            assert a.status_reasons == (reason,)
    # p_alive and status agree: lost by behaviour means p_alive below the threshold, and a long silence with
    # p_alive below it (and no contract running) is churned, never active.
    if a.status_reasons == ("p_alive_below_threshold",):
        assert a.p_alive is not None and a.p_alive < CONFIG.churn_p_alive
    live_contract = any(s.kind == "contract_started" for s in extra)
    if a.p_alive is not None and a.p_alive < CONFIG.churn_p_alive and since is not None and not live_contract:
        assert since < CONFIG.churn_min_days or a.status == "churned"
    # The drivers explain the whole score.
    assert abs(sum(d["contribution"] for d in a.drivers) - a.risk_score) < 1e-3
