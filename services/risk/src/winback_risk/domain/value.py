"""The value of a relationship: what it brought, what it brought before it ended, what it would bring back.

For a customer who has left, the value that decides about win-back is not what they are
expected to bring from now on (near zero by definition) but what the relationship was worth
before it ended and would be worth again if won back. The formulas are in the README
("Value of a relationship").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np

from winback_risk.domain.model.fitting import Floats
from winback_risk.domain.model.pareto_nbd import ParetoNBD
from winback_shared.contracts import ContractRun, add_months, paid

YEAR_DAYS = 365.0
LEFT = frozenset({"churned", "lapsed"})


@dataclass(slots=True)
class RelationshipValue:
    """Money of one customer (Decimal) and the two 12-month predictions (floats, rounded to cents)."""

    revenue: Decimal
    margin: Decimal
    # The 12 months (365 days of orders, 12 calendar months of contract periods) ending at `window_end`.
    revenue_12m_before_churn: Decimal
    margin_12m_before_churn: Decimal
    # Where the relationship ended (churn notice, last purchase or contract end), or as_of for a customer who stays.
    window_end: datetime
    # What the customer is expected to bring in the next 12 months from as_of, given all we know (post-churn).
    predicted_clv_12m: float | None
    # What the customer would bring in 12 months if retained or won back, from the behaviour before leaving.
    predicted_value_if_retained_12m: float | None


def expected_purchases_if_alive(p: ParetoNBD, t: float, x: Floats, T: Floats) -> Floats:
    """E[purchases in (T, T + t] | alive at T, x] of Pareto/NBD (its expected purchases without the P(alive) factor).

    Conditional on being alive at T the purchase rate's posterior is Gamma(r + x, alpha + T) and
    the dropout rate's Gamma(s, beta + T): Fader & Hardie (2005), eq. (14) before the P(alive) term.
    """
    ratio = np.log((p.beta + T) / (p.beta + T + t))
    s1 = p.s - 1.0
    growth = -np.expm1(s1 * ratio) / s1 if abs(s1) > 1e-9 else -ratio
    return (p.r + x) * (p.beta + T) / (p.alpha + T) * growth


def window_end(
    status: str,
    moment: datetime,
    churned_at: datetime | None,
    last_order_at: datetime | None,
    runs: Sequence[ContractRun],
) -> datetime:
    """Where the relationship's last 12 months end: as_of for a customer who stays, else where it ended.

    A churned or lapsed customer's relationship ended at the churn (notice or behavioural churn,
    `churned_at`) or earlier at their last activity: the last order or the last moment a contract
    was running, whichever is later. A lapsed customer has no churn: their last activity counts.
    """
    if status not in LEFT:
        return moment
    end = churned_at if status == "churned" and churned_at is not None and churned_at <= moment else moment
    active = last_order_at
    for run in runs:
        if run.started_at <= end:
            running_until = end if run.ends_at is None else min(run.ends_at, end)
            active = running_until if active is None else max(active, running_until)
    return end if active is None else min(end, active)


def contract_payments_12m(runs: Sequence[ContractRun], end: datetime) -> Decimal:
    """Contract periods begun in the 12 calendar months up to `end`."""
    return paid(runs, add_months(end, -12), end)
