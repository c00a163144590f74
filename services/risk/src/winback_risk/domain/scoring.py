"""From facts up to `as_of` to the scores the API shows (pure; vectorised where it counts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from winback_risk.domain.buying_cycle import BuyingCycle, buying_cycle, cycle_numbers
from winback_risk.domain.customer import UNKNOWN_REASON, Status
from winback_risk.domain.drivers import Driver, has_live_contract, signal_drivers
from winback_risk.domain.facts import Signal
from winback_risk.domain.model.population import PopulationModel, Summaries, cycle_scores, value_tier
from winback_risk.domain.winback import infer_churn_reason, segment_of, winback_probability

DAY = 86_400.0


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


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """Purchase occasions (distinct UTC days with orders) of one customer up to as_of."""

    occasions: int = 0
    orders: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    first_day_at: datetime | None = None
    last_day_at: datetime | None = None
    revenue: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)
    has_margin: bool = False


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
    # Returns net of refunds for `value.revenue` (the fold keeps them on the customer row).
    revenue: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    customer_id: str
    as_of: datetime
    horizon_days: int
    status: Status
    status_reasons: tuple[str, ...]
    risk_score: float
    drivers: list[dict[str, Any]]
    p_alive: float | None
    expected_orders: float | None
    cycle: BuyingCycle
    predicted_clv_12m: float | None
    value_tier: str | None
    churn_reason: str | None
    churn_evidence: dict[str, Any] | None
    winback_probability: float
    segment: str | None
    extra: dict[str, Any] = field(default_factory=dict)


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


def combine(drivers: Sequence[Driver]) -> tuple[float, list[dict[str, Any]]]:
    """Noisy-OR of the weights; each driver's contribution is its share of the score, so they sum to it."""
    strengths = [-math.log1p(-min(d.weight, 0.999)) for d in drivers if d.weight > 0]
    total = sum(strengths)
    score = 1.0 - math.exp(-total)
    out: list[dict[str, Any]] = [
        {"factor": d.factor, "contribution": round(score * s / total, 4), "detail": d.detail}
        for d, s in zip((d for d in drivers if d.weight > 0), strengths, strict=True)
    ]
    out.sort(key=lambda d: -float(d["contribution"]))
    return round(score, 4), out


def classify(
    facts: CustomerFacts, cycle: BuyingCycle, p_alive: float | None, risk: float, live_contract: bool, c: RiskConfig
) -> tuple[Status, tuple[str, ...]]:
    """The lifecycle status at as_of and why; see the README for the order of the rules."""
    return status_rule(
        facts.base_status, facts.orders.occasions, cycle.days_since_last_order, cycle.overdue_ratio,
        p_alive, risk, live_contract, c,
    )  # fmt: skip


def status_rule(
    base_status: Status,
    occasions: int,
    since: float | None,
    overdue_ratio: float | None,
    p_alive: float | None,
    risk: float,
    live_contract: bool,
    c: RiskConfig,
) -> tuple[Status, tuple[str, ...]]:
    """`classify` on plain numbers (days since the last order and overdue ratio as `buying_cycle` rounds them)."""
    if base_status == "churned":
        return "churned", ()
    behaviour_lost = p_alive is not None and since is not None and p_alive < c.churn_p_alive
    if not live_contract and behaviour_lost and since is not None and since >= c.churn_min_days:
        return "churned", ("p_alive_below_threshold",)
    if overdue_ratio is not None and occasions >= c.lapsed_min_occasions and overdue_ratio >= c.lapsed_overdue_ratio:
        return "lapsed", ("overdue_vs_own_interval",)
    if risk >= c.at_risk_score:
        return "at_risk", ("risk_score_above_threshold",)
    return ("won_back" if base_status == "won_back" else "active"), ()


Scored = tuple[float, float, float]  # p_alive, expected orders, 12-month CLV of one customer with orders


def assess_many(
    facts: Sequence[CustomerFacts],
    model: PopulationModel,
    as_of: datetime | Sequence[datetime],
    horizon_days: int,
    c: RiskConfig,
    *,
    value_basis: str = "revenue",
) -> list[Assessment]:
    """Assess customers at as_of (one for all, or one each); the buying-cycle model runs once (numpy).

    Customers without signals (most of an order stream) take `assess_plain`, which gives the
    same result as `assess_one` without evaluating eight driver rules on nothing.
    """
    moments = _moments(facts, as_of)
    scored = _scored(facts, moments, model, horizon_days, value_basis)
    return [
        (assess_one if f.signals else assess_plain)(f, m, s, model, horizon_days, c)
        for f, m, s in zip(facts, moments, scored, strict=True)
    ]


class Quick(NamedTuple):
    """What the fold stores of `assess_plain`'s result, without building the rest (cycle, drivers, detail text).

    Constructing the frozen `BuyingCycle` and `Assessment` cost more than the scoring itself;
    most scores do not move materially, so most customers never need them (`expand`).
    """

    customer_id: str
    as_of: datetime
    status: Status
    status_reasons: tuple[str, ...]
    risk_score: float
    p_alive: float | None
    value_tier: str | None
    segment: str | None
    winback_probability: float
    churn_reason: str | None
    churn_evidence: dict[str, Any] | None
    scored: Scored | None


def assess_lean(
    facts: Sequence[CustomerFacts],
    model: PopulationModel,
    as_of: datetime | Sequence[datetime],
    horizon_days: int,
    c: RiskConfig,
    *,
    value_basis: str = "revenue",
) -> list[Assessment | Quick]:
    """`assess_many` for the fold: a `Quick` for customers without signals (`expand` gives their `Assessment`)."""
    moments = _moments(facts, as_of)
    scored = _scored(facts, moments, model, horizon_days, value_basis)
    return [
        assess_one(f, m, s, model, horizon_days, c) if f.signals else assess_quick(f, m, s, model, c)
        for f, m, s in zip(facts, moments, scored, strict=True)
    ]


def expand(
    a: Assessment | Quick, f: CustomerFacts, model: PopulationModel, horizon_days: int, c: RiskConfig
) -> Assessment:
    """The full assessment `assess_lean` stood in for (the same `assess_many` gives)."""
    return a if isinstance(a, Assessment) else assess_plain(f, a.as_of, a.scored, model, horizon_days, c)


def assess_quick(
    f: CustomerFacts, moment: datetime, scored: Scored | None, model: PopulationModel, c: RiskConfig
) -> Quick:
    """`assess_plain` reduced to the stored fields, computed the same way (tests/unit/test_risk_batch_scoring.py)."""
    o = f.orders
    _, since, ratio = cycle_numbers(o.occasions, o.first_order_at, o.last_order_at, moment)
    alive = clv = None
    risk = 0.0
    if scored is not None:
        alive, _, clv = scored
        weight = c.cycle_weight * (1.0 - alive)
        if weight > 0:
            risk = round(1.0 - math.exp(math.log1p(-min(weight, 0.999))), 4)
    status, reasons = status_rule(f.base_status, o.occasions, since, ratio, alive, risk, False, c)
    tier = _tier(clv, model)
    reason, evidence, probability = _reason_without_signals(f, status, moment)
    segment = segment_of(tier, probability, c.segment_high_tiers, c.segment_probability)
    return Quick(
        f.customer_id, moment, status, reasons, risk, None if alive is None else round(alive, 4), tier, segment,
        probability, reason, evidence, scored,
    )  # fmt: skip


def _moments(facts: Sequence[CustomerFacts], as_of: datetime | Sequence[datetime]) -> list[datetime]:
    return [as_of] * len(facts) if isinstance(as_of, datetime) else list(as_of)


def _scored(
    facts: Sequence[CustomerFacts], moments: list[datetime], model: PopulationModel, horizon_days: int, basis: str
) -> list[Scored | None]:
    """The model's (p_alive, expected orders, CLV) per customer with orders, None for the others."""
    summaries, has = summaries_of(facts, moments, basis)
    scored: list[Scored | None] = [None] * len(facts)
    if summaries.size:
        # Plain floats once for the batch: indexing numpy scalars per customer costs more than the scoring.
        scores = cycle_scores(model, summaries, float(horizon_days))
        rows = zip(scores.p_alive.tolist(), scores.expected_orders.tolist(), scores.clv_12m.tolist(), strict=True)
        for i, row in zip(np.flatnonzero(has).tolist(), rows, strict=True):
            scored[i] = row
    return scored


def _cycle(o: OrderSummary, moment: datetime) -> BuyingCycle:
    # The rhythm counts purchase occasions (same-day orders once), the display counts orders.
    return buying_cycle(o.orders, o.first_order_at, o.last_order_at, moment, occasions=o.occasions)


def _cycle_driver(cycle: BuyingCycle, alive: float, c: RiskConfig) -> Driver:
    overdue = f" ({cycle.overdue_ratio:g}x own interval)" if cycle.overdue_ratio is not None else ""
    return Driver("buying_cycle", c.cycle_weight * (1.0 - alive), f"p_alive {alive:.2f}{overdue}")


def _tier(clv: float | None, model: PopulationModel) -> str | None:
    return value_tier(clv, model.tier_cutoffs) if clv is not None else ("C" if model.tier_cutoffs else None)


def assess_one(
    f: CustomerFacts, moment: datetime, scored: Scored | None, model: PopulationModel, horizon_days: int, c: RiskConfig
) -> Assessment:
    """One customer's assessment from facts and the model's scores (None: no orders)."""
    o = f.orders
    cycle = _cycle(o, moment)
    alive = clv = None
    drivers = signal_drivers(f.signals, moment)
    if scored is not None:
        alive, _, clv = scored
        drivers.append(_cycle_driver(cycle, alive, c))
    risk, driver_list = combine(drivers)
    live = has_live_contract(f.signals, moment)
    status, reasons = classify(f, cycle, alive, risk, live, c)
    tier = _tier(clv, model)
    reason, evidence = f.churn_reason, None
    if status in ("churned", "lapsed") and (reason is None or reason == UNKNOWN_REASON):
        reason, evidence = infer_churn_reason(drivers, f.signals, moment)
    probability = winback_probability(
        reason, eligible=f.winback_eligible, occasions=o.occasions,
        live_usage=any(s.kind == "usage" for s in f.signals),
        failed_winbacks=max(0, f.churn_count - 1), churned_at=f.churned_at, as_of=moment,
    )  # fmt: skip
    return _assessment(f, moment, horizon_days, status, reasons, risk, driver_list, scored, cycle, tier, reason,
                       evidence, probability, c)  # fmt: skip


def assess_plain(
    f: CustomerFacts, moment: datetime, scored: Scored | None, model: PopulationModel, horizon_days: int, c: RiskConfig
) -> Assessment:
    """`assess_one` for a customer without signals: the buying cycle is the only possible driver."""
    o = f.orders
    cycle = _cycle(o, moment)
    alive = clv = None
    risk, driver_list = 0.0, []
    if scored is not None:
        alive, _, clv = scored
        driver = _cycle_driver(cycle, alive, c)
        if driver.weight > 0:
            # combine() of one driver: the score is its noisy-OR, the contribution all of it.
            strength = -math.log1p(-min(driver.weight, 0.999))
            score = 1.0 - math.exp(-strength)
            risk = round(score, 4)
            driver_list = [{"factor": driver.factor, "contribution": round(score * strength / strength, 4),
                            "detail": driver.detail}]  # fmt: skip
    status, reasons = classify(f, cycle, alive, risk, False, c)
    tier = _tier(clv, model)
    reason, evidence, probability = _reason_without_signals(f, status, moment)
    return _assessment(f, moment, horizon_days, status, reasons, risk, driver_list, scored, cycle, tier, reason,
                       evidence, probability, c)  # fmt: skip


def _reason_without_signals(
    f: CustomerFacts, status: str, moment: datetime
) -> tuple[str | None, dict[str, Any] | None, float]:
    """Churn reason, its evidence and the win-back probability of a customer without signals."""
    reason, evidence = f.churn_reason, None
    if status in ("churned", "lapsed") and (reason is None or reason == UNKNOWN_REASON):
        # No pointing driver without signals (what infer_churn_reason gives then).
        reason, evidence = UNKNOWN_REASON, {"inferred": True, "evidence": []}
    probability = winback_probability(
        reason, eligible=f.winback_eligible, occasions=f.orders.occasions, live_usage=False,
        failed_winbacks=max(0, f.churn_count - 1), churned_at=f.churned_at, as_of=moment,
    )  # fmt: skip
    return reason, evidence, probability


def _assessment(
    f: CustomerFacts,
    moment: datetime,
    horizon_days: int,
    status: Status,
    reasons: tuple[str, ...],
    risk: float,
    drivers: list[dict[str, Any]],
    scored: Scored | None,
    cycle: BuyingCycle,
    tier: str | None,
    reason: str | None,
    evidence: dict[str, Any] | None,
    probability: float,
    c: RiskConfig,
) -> Assessment:
    alive, expected, clv = scored if scored is not None else (None, None, None)
    return Assessment(
        customer_id=f.customer_id, as_of=moment, horizon_days=horizon_days, status=status,
        status_reasons=reasons, risk_score=risk, drivers=drivers,
        p_alive=None if alive is None else round(alive, 4),
        expected_orders=None if expected is None else round(expected, 4),
        cycle=cycle, predicted_clv_12m=None if clv is None else round(clv, 2), value_tier=tier,
        churn_reason=reason, churn_evidence=evidence, winback_probability=probability,
        segment=segment_of(tier, probability, c.segment_high_tiers, c.segment_probability),
    )  # fmt: skip


def moved_materially(before: float | None, after: float, c: RiskConfig) -> bool:
    """A risk score moved by at least `material_change`, or crossed the at-risk threshold."""
    previous = before if before is not None else 0.0
    crossed = (previous >= c.at_risk_score) != (after >= c.at_risk_score)
    return abs(after - previous) >= c.material_change or crossed
