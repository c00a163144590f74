"""One life of a customer: from joining (or returning) to leaving, with everything in it that no contact changes.

At the start of a life every contact-independent random draw is made: when each early-warning driver
appears, when the customer leaves (hazard of leaving times the drivers' true factors), why, and the
target E of the return clock. Contacts change only the exponential clocks of `hazard.py` (next order,
return), so both potential outcomes of an enrolment share this life.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from winback_cli.simulation.hazard import INF, Base, Interval, crossing
from winback_cli.simulation.params import SimParams
from winback_cli.simulation.population import Customer

COMPANY_REASONS = ("company_initiated", "insolvency", "fraud")
SHOP_DRIVERS = ("complaint", "ticket_unresolved", "nps_detractor", "csat_low")


@dataclass
class Life:
    """A spell as a customer and the draws that decide how it ends."""

    number: int
    start: float
    end_at: float  # when the customer leaves (notice given, or silent drop-out); INF = not within the run
    reason: str | None
    drivers: dict[str, float]  # driver -> onset (only those before end_at)
    return_target: float  # E of the return clock (-ln U)
    contract_id: str | None = None
    effective_at: float | None = None  # when a cancelled contract ends
    no_contact: bool = False
    feature: str | None = None  # the wish a feature-gap leaver left for
    returned_at: float | None = None
    orders: list[tuple[float, float]] = field(default_factory=list)  # (order time, E of the next order)
    revenue: list[tuple[float, float]] = field(default_factory=list)  # (order time, amount net of a return)
    # Where the monthly routine stands (business.Business._tick).
    months: int = 0
    years: int = 0
    next_noise: float = INF
    next_survey: float = INF

    def factor_at(self, t: float, factors: dict[str, float]) -> float:
        """The true hazard multiplier of leaving at `t` (product of the drivers present)."""
        return math.prod(factors.get(k, 1.0) for k, onset in self.drivers.items() if onset <= t)


def exp_target(rng: random.Random) -> float:
    """E = -ln U, the target of an exponential clock."""
    return -math.log(1.0 - rng.random())


def draw_life(customer: Customer, number: int, start: float, horizon: float, params: SimParams) -> Life:
    """Draw a life starting at `start`; draws come from the customer's own stream, in a fixed order."""
    rng = customer.rng
    onsets: dict[str, float] = {}
    for driver, rate in params.driver_rates.items():
        if driver == "falling_usage" and not customer.contract:
            continue  # shop buyers report no usage
        onset = start + rng.expovariate(rate) if rate > 0 else INF
        if onset < horizon:
            onsets[driver] = onset
    factors = [Interval(onset, INF, params.hazard_factors.get(k, 1.0)) for k, onset in onsets.items()]
    voluntary, _ = crossing(Base(customer.dropout_rate), start, horizon, exp_target(rng), factors)
    endings: list[tuple[float, str | None]] = [(voluntary if voluntary is not None else INF, None)]
    company_rates = {
        "company_initiated": params.company_initiated_hazard_per_year,
        "insolvency": params.insolvency_hazard_per_year if customer.kind == "business" else 0.0,
        "fraud": params.fraud_hazard_per_year,
    }
    for ending in COMPANY_REASONS:
        rate = company_rates[ending] / 365.25 if customer.contract else 0.0
        endings.append((start + rng.expovariate(rate) if rate > 0 else INF, ending))
    reason: str | None
    end_at, reason = min(endings, key=lambda e: e[0])
    if end_at >= horizon:
        end_at, reason = INF, None
    drivers = {k: v for k, v in onsets.items() if v < end_at}
    if end_at < INF and reason is None:
        reason = _voluntary_reason(rng, customer, drivers, params)
    feature = customer.wishes[0] if reason == "feature_gap" and customer.wishes else None
    if reason == "feature_gap" and feature is None:
        feature = rng.choice(params.feature_tags)
    return Life(
        number=number,
        start=start,
        end_at=end_at,
        reason=reason,
        drivers=drivers,
        return_target=exp_target(rng),
        contract_id=f"{customer.customer_id}-c{number}" if customer.contract else None,
        no_contact=end_at < INF and customer.contract and rng.random() < params.no_contact_requested_probability,
        feature=feature,
    )


def _voluntary_reason(rng: random.Random, customer: Customer, drivers: dict[str, float], params: SimParams) -> str:
    weights = dict(params.reason_shares)
    for driver in drivers:
        for reason, w in params.driver_reason_weights.get(driver, {}).items():
            weights[reason] = weights.get(reason, 0.0) * w
    if customer.wishes and "feature_gap" in weights:
        weights["feature_gap"] *= params.feature_gap_weight_with_wish
    reasons = sorted(weights)
    return rng.choices(reasons, weights=[weights[r] for r in reasons])[0]


def return_base(life: Life, params: SimParams) -> Base:
    """The held-out return hazard after leaving: b(reason) * exp(-(t - left) / D)."""
    p = params.return_ever_probability.get(life.reason or "other", 0.0)
    d = params.return_decay_days
    rate = -math.log(1.0 - p) / d if 0.0 < p < 1.0 else 0.0
    return Base(rate, origin=life.end_at, decay=d)


def return_factors(life: Life, params: SimParams, releases: dict[str, float]) -> list[Interval]:
    """Contact-independent multipliers of the return hazard: the wished feature shipping."""
    shipped = releases.get(life.feature or "")
    if life.reason == "feature_gap" and shipped is not None:
        return [Interval(max(shipped, life.end_at), INF, params.feature_release_lift)]
    return []
