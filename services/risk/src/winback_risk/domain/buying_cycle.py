"""A customer's own buying rhythm, measured against `as_of` (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SECONDS_PER_DAY = 86_400.0


@dataclass(slots=True)
class BuyingCycle:
    orders: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    mean_interval_days: float | None
    days_since_last_order: float | None
    overdue_ratio: float | None


def buying_cycle(
    orders: int,
    first_order_at: datetime | None,
    last_order_at: datetime | None,
    as_of: datetime,
    *,
    occasions: int | None = None,
) -> BuyingCycle:
    """Mean gap between orders, days since the last one, and how overdue that is (1.0 = on time).

    The mean interval needs two orders at distinct times; the overdue ratio needs a positive
    interval. Otherwise those fields are None rather than a made-up number. `occasions`, when
    given, is the count the rhythm divides by (purchase occasions) while `orders` is shown.
    """
    count = orders if occasions is None else occasions
    mean, since, ratio = cycle_numbers(count, first_order_at, last_order_at, as_of)
    return BuyingCycle(
        orders=orders,
        first_order_at=first_order_at,
        last_order_at=last_order_at,
        mean_interval_days=mean,
        days_since_last_order=since,
        overdue_ratio=ratio,
    )


def cycle_numbers(
    count: int, first_order_at: datetime | None, last_order_at: datetime | None, as_of: datetime
) -> tuple[float | None, float | None, float | None]:
    """`buying_cycle`'s mean interval, days since the last order and overdue ratio, rounded, without the object."""
    mean: float | None = None
    if count >= 2 and first_order_at is not None and last_order_at is not None and last_order_at > first_order_at:
        mean = (last_order_at - first_order_at).total_seconds() / SECONDS_PER_DAY / (count - 1)
    since: float | None = None
    if last_order_at is not None:
        since = max((as_of - last_order_at).total_seconds() / SECONDS_PER_DAY, 0.0)
    ratio = since / mean if since is not None and mean else None
    return (
        round(mean, 3) if mean is not None else None,
        round(since, 3) if since is not None else None,
        round(ratio, 3) if ratio is not None else None,
    )
