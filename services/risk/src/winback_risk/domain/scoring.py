"""From facts up to `as_of` to the scores the API shows: the one assessment every path uses (pure).

`assess_customers` is the only way a customer is assessed: the consumer (at each customer's
latest event), the scheduled assessor (at now), the read API (at as_of) and the backtest all
call it. The model runs vectorised across the customers (numpy); the rest is per customer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from winback_risk.domain.buying_cycle import BuyingCycle, cycle_numbers
from winback_risk.domain.contracts import contract_runs
from winback_risk.domain.customer import UNKNOWN_REASON, Status
from winback_risk.domain.drivers import Driver, has_live_contract, signal_drivers
from winback_risk.domain.facts import Signal
from winback_risk.domain.model.population import CLV_DAYS, PopulationModel, Summaries, cycle_scores, value_tier
from winback_risk.domain.value import (
    RelationshipValue,
    contract_payments_12m,
    expected_purchases_if_alive,
    window_end,
)
from winback_risk.domain.winback import infer_churn_reason, segment_of, winback_probability
from winback_shared.contracts import ContractRun, monthly_value_running, paid, paid_ahead

DAY = 86_400.0
_ZERO = Decimal(0)
# The heaviest the overdue driver gets, however long the silence: the customer's own rhythm is
# strong evidence, but never certainty (a buyer may come back from a long pause).
OVERDUE_MAX_WEIGHT = 0.95
# A churned customer's risk: they have left (notice given or lost by behaviour).
CHURNED_WEIGHT = 0.9
# The overdue driver of a customer with one purchase occasion, measured against the base.
TYPICAL_OVERDUE_DETAIL = "no rhythm of their own; against the base's typical interval: {0:g}x {1:g} days"


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Thresholds of the lifecycle and the scores (documented in the README)."""

    at_risk_score: float = 0.5
    lapsed_overdue_ratio: float = 2.0
    lapsed_min_occasions: int = 2
    churn_p_alive: float = 0.1
    churn_min_days: float = 365.0
    cycle_weight: float = 0.9
    material_change: float = 0.1
    segment_probability: float = 0.3
    segment_high_tiers: str = "AB"
    # Share of a contract payment that is contribution margin (contract events carry no cost).
    contract_margin_rate: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """Purchase occasions (distinct UTC days with orders) of one customer up to as_of.

    The `*_12m*` sums are the orders of three 365-day windows: ending at as_of, at the last
    order, and at the churn (`churned_at` of the facts); the assessment picks one (`window_end`).
    """

    occasions: int = 0
    orders: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    first_day_at: datetime | None = None
    last_day_at: datetime | None = None
    revenue: Decimal = _ZERO
    margin: Decimal = _ZERO
    has_margin: bool = False
    revenue_12m: Decimal = _ZERO
    margin_12m: Decimal = _ZERO
    revenue_12m_to_last_order: Decimal = _ZERO
    margin_12m_to_last_order: Decimal = _ZERO
    revenue_12m_to_churn: Decimal = _ZERO
    margin_12m_to_churn: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    customer_id: str
    base_status: Status
    orders: OrderSummary
    signals: Sequence[Signal] = ()
    churn_reason: str | None = None
    churn_count: int = 0
    churned_at: datetime | None = None
    winback_eligible: bool = True
    # Orders net of returns, and their margin, as the fold keeps them on the customer row
    # (None: the order summary's sums, without returns).
    revenue: Decimal | None = None
    margin: Decimal | None = None


@dataclass(slots=True)
class Assessment:
    customer_id: str
    as_of: datetime
    horizon_days: int
    status: Status
    status_reasons: tuple[str, ...]
    risk_score: float
    # The drivers that fired; `drivers` turns them into contributions when they are shown or published.
    factors: list[Driver]
    p_alive: float | None
    expected_orders: float | None
    # (mean interval, days since the last order, overdue ratio) as `cycle_numbers` gives them.
    rhythm: tuple[float | None, float | None, float | None]
    orders: OrderSummary
    predicted_clv_12m: float | None
    value_tier: str | None
    churn_reason: str | None
    churn_evidence: dict[str, Any] | None
    winback_probability: float
    segment: str | None
    value: RelationshipValue

    @property
    def cycle(self) -> BuyingCycle:
        """The buying cycle as the API shows it (orders counted, the rhythm over purchase occasions)."""
        o = self.orders
        return BuyingCycle(o.orders, o.first_order_at, o.last_order_at, *self.rhythm)

    @property
    def drivers(self) -> list[dict[str, Any]]:
        """Each driver with its contribution (they sum to the risk score), strongest first."""
        return combine(self.factors)[1]


def summaries_of(
    facts: Sequence[CustomerFacts], as_of: Sequence[datetime], value_basis: str
) -> tuple[Summaries, npt.NDArray[np.bool_]]:
    """Model inputs of the customers with orders, and the mask of who has any."""
    has = np.array([f.orders.occasions > 0 for f in facts], dtype=bool)
    rows = [f.orders for f in facts if f.orders.occasions > 0]
    moments = [m for f, m in zip(facts, as_of, strict=True) if f.orders.occasions > 0]
    if not rows:
        empty = np.zeros(0)
        return Summaries(empty, empty, empty, empty), has
    first = np.array(
        [(m - o.first_day_at).total_seconds() / DAY for o, m in zip(rows, moments, strict=True) if o.first_day_at]
    )
    span = np.array(
        [(o.last_day_at - o.first_day_at).total_seconds() / DAY for o in rows if o.first_day_at and o.last_day_at]
    )
    x = np.array([o.occasions - 1 for o in rows], dtype=float)
    total = np.array([float(o.margin if value_basis == "margin" and o.has_margin else o.revenue) for o in rows])
    mean = np.maximum(total / (x + 1.0), 0.0)
    return Summaries(x, np.maximum(span, 0.0), np.maximum(first, span), mean), has


def noisy_or(drivers: Sequence[Driver]) -> float:
    """The risk score: 1 - prod(1 - w) over the drivers' weights (each capped at 0.999)."""
    safe = 1.0
    for d in drivers:
        if d.weight > 0:
            safe *= 1.0 - min(d.weight, 0.999)
    return 1.0 - safe


def combine(drivers: Sequence[Driver]) -> tuple[float, list[dict[str, Any]]]:
    """Noisy-OR of the weights; each driver's contribution is its share -log(1 - w) of the score, so they sum to it."""
    fired = [d for d in drivers if d.weight > 0]
    strengths = [-math.log1p(-min(d.weight, 0.999)) for d in fired]
    total = sum(strengths)
    score = noisy_or(fired)
    out: list[dict[str, Any]] = [
        {"factor": d.factor, "contribution": round(score * s / total, 4), "detail": d.text()}
        for d, s in zip(fired, strengths, strict=True)
    ]
    out.sort(key=lambda d: -float(d["contribution"]))
    return round(score, 4), out


def status_rule(
    base_status: Status,
    occasions: int,
    since: float | None,
    overdue_ratio: float | None,
    p_alive: float | None,
    risk: float,
    live_contract: bool,
    c: RiskConfig,
    typical_ratio: float | None = None,
) -> tuple[Status, tuple[str, ...]]:
    """The lifecycle status at as_of and why; see the README for the order of the rules.

    `since` (days since the last order) and `overdue_ratio` are rounded as `buying_cycle` rounds them.
    `typical_ratio` is the silence against the base's typical interval, for a customer with one
    purchase occasion (no interval of their own) and no running contract; None for everybody else.
    """
    if base_status == "churned":
        return "churned", ()
    behaviour_lost = p_alive is not None and since is not None and p_alive < c.churn_p_alive
    if not live_contract and behaviour_lost and since is not None and since >= c.churn_min_days:
        return "churned", ("p_alive_below_threshold",)
    lapsed = overdue_ratio is not None and occasions >= c.lapsed_min_occasions
    if lapsed and overdue_ratio is not None and overdue_ratio >= c.lapsed_overdue_ratio:
        return "lapsed", ("overdue_vs_own_interval",)
    if typical_ratio is not None and typical_ratio >= c.lapsed_overdue_ratio:
        return "lapsed", ("overdue_vs_typical_interval",)
    if risk >= c.at_risk_score:
        return "at_risk", ("risk_score_above_threshold",)
    return ("won_back" if base_status == "won_back" else "active"), ()


def typical_ratio_of(occasions: int, since: float | None, typical_interval: float | None) -> float | None:
    """Days since the only purchase over the base's typical interval, rounded like the own ratio.

    Only for customers with exactly one purchase occasion: whoever has an interval of their own
    is measured against it (the spec's rule), never against the base.
    """
    if occasions != 1 or since is None or not typical_interval:
        return None
    return round(since / typical_interval, 3)


def overdue_weight(ratio: float, c: RiskConfig) -> float:
    """The overdue driver's weight: 0 on time, the at-risk threshold where lapsing begins, towards 0.95 beyond.

    Linear from 0 at ratio 1 to `at_risk_score` at `lapsed_overdue_ratio` (L), then
    `at_risk + (0.95 - at_risk) x (1 - L / ratio)`: a lapsed customer's risk is never below the
    at-risk threshold, and a longer silence weighs more.
    """
    lapse = c.lapsed_overdue_ratio
    if ratio <= 1.0:
        return 0.0
    if ratio < lapse:
        return c.at_risk_score * (ratio - 1.0) / (lapse - 1.0)
    return c.at_risk_score + (OVERDUE_MAX_WEIGHT - c.at_risk_score) * (1.0 - lapse / ratio)


class _Behaviour(NamedTuple):
    """The first stage of one customer's assessment: rhythm, drivers, risk, status."""

    rhythm: tuple[float | None, float | None, float | None]
    drivers: list[Driver]
    risk: float
    status: Status
    reasons: tuple[str, ...]
    runs: list[ContractRun]


Scored = tuple[float, float, float, float]  # p_alive, expected orders, 12-month CLV, value per occasion


def assess_customers(
    facts: Sequence[CustomerFacts],
    model: PopulationModel,
    as_of: datetime | Sequence[datetime],
    horizon_days: int,
    c: RiskConfig,
    *,
    value_basis: str = "revenue",
) -> list[Assessment]:
    """Assess customers at as_of (one moment for all, or one each) with the model: the single assessment.

    Three stages: the model's scores at as_of (vectorised), each customer's rhythm, drivers and
    status, then the value of the relationship up to where it ended (the model again,
    vectorised, at that moment as if alive) with the tier and segment that rank it.
    """
    moments = [as_of] * len(facts) if isinstance(as_of, datetime) else list(as_of)
    st = _stages(facts, model, moments, horizon_days, c, value_basis)
    return [
        _assessment(f, m, horizon_days, s, b, end, r, model, c, value_basis)
        for f, m, s, b, end, r in zip(facts, moments, st.scored, st.behaviour, st.ends, st.retained, strict=True)
    ]


class _Stages(NamedTuple):
    """What the assessment knows of each customer before the value is ranked (parallel lists)."""

    scored: list[Scored | None]
    behaviour: list[_Behaviour]
    ends: list[datetime]
    retained: list[float | None]


def _stages(
    facts: Sequence[CustomerFacts],
    model: PopulationModel,
    moments: Sequence[datetime],
    horizon_days: int,
    c: RiskConfig,
    value_basis: str,
) -> _Stages:
    """Model scores, rhythm, drivers and status, where the relationship ended, and its value if retained."""
    summaries, has = summaries_of(facts, moments, value_basis)
    scored = _scored(summaries, has, model, horizon_days)
    typical = model.typical_interval_days
    stages = [_behaviour(f, m, s, c, typical) for f, m, s in zip(facts, moments, scored, strict=True)]
    ends = [
        window_end(b.status, m, f.churned_at, f.orders.last_order_at, b.runs)
        for f, m, b in zip(facts, moments, stages, strict=True)
    ]
    retained = _retained_orders_value(facts, summaries, has, ends, scored, model)
    return _Stages(scored, stages, ends, retained)


def _scored(
    summaries: Summaries, has: npt.NDArray[np.bool_], model: PopulationModel, horizon_days: int
) -> list[Scored | None]:
    """The model's (p_alive, expected orders, CLV, value per occasion) per customer with orders, None for the others."""
    scored: list[Scored | None] = [None] * len(has)
    if summaries.size:
        # Plain floats once for the batch: indexing numpy scalars per customer costs more than the scoring.
        s = cycle_scores(model, summaries, float(horizon_days))
        columns = (s.p_alive.tolist(), s.expected_orders.tolist(), s.clv_12m.tolist(), s.value_per_order.tolist())
        for i, row in zip(np.flatnonzero(has).tolist(), zip(*columns, strict=True), strict=True):
            scored[i] = row
    return scored


def _retained_orders_value(
    facts: Sequence[CustomerFacts],
    summaries: Summaries,
    has: npt.NDArray[np.bool_],
    ends: Sequence[datetime],
    scored: Sequence[Scored | None],
    model: PopulationModel,
) -> list[float | None]:
    """The orders' part of the value if retained: occasions in 365 days as if alive at the window's end x value each."""
    out: list[float | None] = [None] * len(facts)
    if not summaries.size:
        return out
    index = np.flatnonzero(has).tolist()
    # Customers with orders always have a first day; T is measured from it, like the model's summaries.
    T = np.array([(ends[i] - (facts[i].orders.first_day_at or ends[i])).total_seconds() / DAY for i in index])
    T = np.maximum(T, summaries.t_x)
    expected = expected_purchases_if_alive(model.purchases, CLV_DAYS, summaries.x, T).tolist()
    for i, e in zip(index, expected, strict=True):
        s = scored[i]
        out[i] = e * s[3] if s is not None else None
    return out


def _behaviour(
    f: CustomerFacts, moment: datetime, scored: Scored | None, c: RiskConfig, typical_interval: float | None
) -> _Behaviour:
    o = f.orders
    # The rhythm counts purchase occasions (same-day orders once); the buying cycle shown counts orders.
    rhythm = cycle_numbers(o.occasions, o.first_order_at, o.last_order_at, moment)
    mean, since, ratio = rhythm
    drivers = signal_drivers(f.signals, moment) if f.signals else []
    alive = scored[0] if scored is not None else None
    if alive is not None:
        weight = c.cycle_weight * (1.0 - alive)
        if ratio is None:
            drivers.append(Driver("buying_cycle", weight, "p_alive {0:.2f}", (alive,)))
        else:
            drivers.append(Driver("buying_cycle", weight, "p_alive {0:.2f} ({1:g}x own interval)", (alive, ratio)))
    if ratio is not None and ratio > 1.0 and o.occasions >= c.lapsed_min_occasions:
        drivers.append(Driver("overdue", overdue_weight(ratio, c), "{0:g}x own interval of {1:g} days", (ratio, mean)))
    runs = contract_runs(f.signals) if f.signals else []
    live = has_live_contract(f.signals, moment) if runs else False
    # While a contract runs, the contract is the relationship's rhythm, not the one order beside it.
    typical_ratio = None if live else typical_ratio_of(o.occasions, since, typical_interval)
    if typical_ratio is not None and typical_ratio > 1.0:
        weight = overdue_weight(typical_ratio, c)
        drivers.append(Driver("overdue", weight, TYPICAL_OVERDUE_DETAIL, (typical_ratio, typical_interval)))
    risk = _risk_of(drivers)
    status, reasons = status_rule(
        f.base_status, o.occasions, since, ratio, alive, risk, live, c, typical_ratio
    )  # fmt: skip
    if status == "churned":
        left = (f.churned_at or moment).date().isoformat()
        drivers.append(Driver("churned", CHURNED_WEIGHT, f"left since {left}"))
        risk = _risk_of(drivers)
    return _Behaviour(rhythm, drivers, risk, status, reasons, runs)


def _risk_of(drivers: Sequence[Driver]) -> float:
    """The score `combine` gives, without building the driver list."""
    return round(noisy_or(drivers), 4)


def _tier(value: float | None, model: PopulationModel) -> str | None:
    return value_tier(value, model.tier_cutoffs) if value is not None else ("C" if model.tier_cutoffs else None)


def _cents(value: float) -> float:
    return round(value, 2)


def _value(
    f: CustomerFacts,
    moment: datetime,
    status: Status,
    scored: Scored | None,
    runs: Sequence[ContractRun],
    end: datetime,
    retained_orders: float | None,
    c: RiskConfig,
    basis: str,
) -> RelationshipValue:
    o = f.orders
    margin_rate = c.contract_margin_rate
    revenue = o.revenue if f.revenue is None else f.revenue
    margin = o.margin if f.margin is None else f.margin
    if runs:
        contract_paid = paid(runs, None, moment)
        revenue, margin = revenue + contract_paid, margin + contract_paid * margin_rate
    if end >= moment:
        orders_12m = (o.revenue_12m, o.margin_12m)
    elif status == "churned" and f.churned_at is not None and end == f.churned_at:
        orders_12m = (o.revenue_12m_to_churn, o.margin_12m_to_churn)
    else:
        orders_12m = (o.revenue_12m_to_last_order, o.margin_12m_to_last_order)
    contracts_12m = contract_payments_12m(runs, end) if runs else _ZERO
    # Predictions on the model's value basis: contracts count at the margin rate when that is margin.
    share = float(margin_rate) if basis == "margin" else 1.0
    clv: float | None = scored[2] if scored is not None else None
    if runs:
        ahead = float(paid_ahead(runs, moment)) * share
        clv = ahead if clv is None else clv + ahead
        monthly = float(monthly_value_running(runs, end)) * share
        retained_orders = 12.0 * monthly if retained_orders is None else retained_orders + 12.0 * monthly
    return RelationshipValue(
        revenue=revenue,
        margin=margin,
        revenue_12m_before_churn=orders_12m[0] + contracts_12m,
        margin_12m_before_churn=orders_12m[1] + contracts_12m * margin_rate,
        window_end=end,
        predicted_clv_12m=None if clv is None else _cents(clv),
        predicted_value_if_retained_12m=None if retained_orders is None else _cents(retained_orders),
    )


def decision_value(status: Status, value: RelationshipValue) -> float | None:
    """The value a tier ranks: if retained for a churned or lapsed customer, the expected 12 months otherwise."""
    if status in ("churned", "lapsed"):
        return value.predicted_value_if_retained_12m
    return value.predicted_clv_12m


def decision_values(
    facts: Sequence[CustomerFacts], model: PopulationModel, as_of: datetime, c: RiskConfig, *, value_basis: str
) -> npt.NDArray[np.float64]:
    """Every customer's decision value at as_of under the model, through the one assessment (tiers rank these).

    Customers without orders and contracts have none (they are tier C) and are left out.
    """
    # The assessment's own stages and value; the tier, reason and segment it would add do not change the value.
    moments = [as_of] * len(facts)
    st = _stages(facts, model, moments, int(CLV_DAYS), c, value_basis)
    values = [
        decision_value(b.status, _value(f, as_of, b.status, s, b.runs, end, r, c, value_basis))
        for f, s, b, end, r in zip(facts, st.scored, st.behaviour, st.ends, st.retained, strict=True)
    ]
    return np.array([v for v in values if v is not None], dtype=float)


def _assessment(
    f: CustomerFacts,
    moment: datetime,
    horizon_days: int,
    scored: Scored | None,
    b: _Behaviour,
    end: datetime,
    retained_orders: float | None,
    model: PopulationModel,
    c: RiskConfig,
    basis: str,
) -> Assessment:
    value = _value(f, moment, b.status, scored, b.runs, end, retained_orders, c, basis)
    tier = _tier(decision_value(b.status, value), model)
    reason, evidence = f.churn_reason, None
    if b.status in ("churned", "lapsed") and (reason is None or reason == UNKNOWN_REASON):
        # Without a pointing driver this is `unknown` with empty evidence.
        reason, evidence = infer_churn_reason(b.drivers, f.signals, moment)
    probability = winback_probability(
        reason, eligible=f.winback_eligible, occasions=f.orders.occasions,
        live_usage=bool(f.signals) and any(s.kind == "usage" for s in f.signals),
        failed_winbacks=max(0, f.churn_count - 1), churned_at=f.churned_at, as_of=moment,
    )  # fmt: skip
    alive, expected = (scored[0], scored[1]) if scored is not None else (None, None)
    return Assessment(
        customer_id=f.customer_id, as_of=moment, horizon_days=horizon_days, status=b.status,
        status_reasons=b.reasons, risk_score=b.risk, factors=b.drivers,
        p_alive=None if alive is None else round(alive, 4),
        expected_orders=None if expected is None else round(expected, 4),
        rhythm=b.rhythm, orders=f.orders, predicted_clv_12m=value.predicted_clv_12m, value_tier=tier,
        churn_reason=reason, churn_evidence=evidence, winback_probability=probability,
        segment=segment_of(tier, probability, c.segment_high_tiers, c.segment_probability), value=value,
    )  # fmt: skip


def moved_materially(before: float | None, after: float, c: RiskConfig) -> bool:
    """A risk score moved by at least `material_change`, or crossed the at-risk threshold."""
    previous = before if before is not None else 0.0
    crossed = (previous >= c.at_risk_score) != (after >= c.at_risk_score)
    return abs(after - previous) >= c.material_change or crossed
