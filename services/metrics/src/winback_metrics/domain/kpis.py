"""KPI arithmetic of spec/metrics.md as pure functions over episodes and action tallies."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
RETENTION_HORIZONS_DAYS = (90, 180, 365)
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Episode:
    """One churn of the cohort: when it happened, when (if) the customer returned, when they churned again."""

    churned_at: datetime
    won_back_at: datetime | None = None
    next_churn_at: datetime | None = None
    churn_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ActionTally:
    """Actions of the cohort with one status and reason, and what they cost."""

    status: str
    reason: str | None
    count: int
    cost: Decimal


def money(amount: Decimal) -> str:
    """Money as a decimal string in cents."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def _fraction(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


def winback_rate(won_back: int, churned: int) -> float | None:
    return _fraction(won_back, churned)


def cost_per_winback(cost_total: Decimal, won_back: int) -> Decimal | None:
    return None if won_back == 0 else cost_total / won_back


def days_to_winback(days: Sequence[float]) -> dict[str, float | None]:
    if not days:
        return {"mean": None, "median": None}
    return {"mean": round(statistics.fmean(days), 2), "median": round(statistics.median(days), 2)}


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / SECONDS_PER_DAY


def retention_after_winback(episodes: Sequence[Episode], now: datetime) -> dict[str, float | None]:
    """Share of won-back customers not churned again N days after their return (only returns N days old count)."""
    shares: dict[str, float | None] = {}
    for horizon in RETENTION_HORIZONS_DAYS:
        old_enough = [e for e in episodes if e.won_back_at is not None and e.won_back_at + timedelta(horizon) <= now]
        active = [
            e
            for e in old_enough
            if e.next_churn_at is None or e.next_churn_at > e.won_back_at + timedelta(horizon)  # type: ignore[operator]
        ]
        shares[str(horizon)] = _fraction(len(active), len(old_enough))
    return shares


def rechurn_rate(retention: dict[str, float | None]) -> dict[str, float | None]:
    return {h: None if share is None else round(1 - share, 6) for h, share in retention.items()}


def churn_reasons(episodes: Sequence[Episode]) -> list[dict[str, Any]]:
    """Counts and shares by reason, most frequent first: the list of what to fix first."""
    counts: dict[str, int] = {}
    for episode in episodes:
        reason = episode.churn_reason or "unknown"
        counts[reason] = counts.get(reason, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"reason": r, "count": n, "share": _fraction(n, len(episodes))} for r, n in ranked]


def compute_kpis(episodes: Sequence[Episode], tallies: Sequence[ActionTally], now: datetime) -> dict[str, Any]:
    """The KPI answer for one cohort; fields not computable yet are present as null."""
    churned = len(episodes)
    days = [days_between(e.churned_at, e.won_back_at) for e in episodes if e.won_back_at is not None]
    won_back = len(days)
    cost_total = sum((t.cost for t in tallies if t.status == "triggered"), Decimal("0"))
    per_winback = cost_per_winback(cost_total, won_back)
    suppressed_by_reason: dict[str, int] = {}
    for tally in tallies:
        if tally.status == "suppressed":
            key = tally.reason or "unknown"
            suppressed_by_reason[key] = suppressed_by_reason.get(key, 0) + tally.count
    retention = retention_after_winback(episodes, now)
    return {
        "churned": churned,
        "lost_revenue": "0",
        "won_back": won_back,
        "winback_rate": winback_rate(won_back, churned),
        "cost_total": money(cost_total),
        "cost_per_winback": None if per_winback is None else money(per_winback),
        "actions": {
            "triggered": sum(t.count for t in tallies if t.status == "triggered"),
            "suppressed": sum(suppressed_by_reason.values()),
            "suppressed_by_reason": dict(sorted(suppressed_by_reason.items())),
        },
        "days_to_winback": days_to_winback(days),
        "recovered_revenue": None,
        "roi": None,
        "clv_before": None,
        "clv_after": None,
        "retention_after_winback": retention,
        "rechurn_rate": rechurn_rate(retention),
        "nps_won_back": None,
        "csat_won_back": None,
        "response_rates": None,
        "uplift": None,
        "churn_reasons": churn_reasons(episodes),
    }
