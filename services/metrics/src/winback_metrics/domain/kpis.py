"""KPI arithmetic of spec/metrics.md as pure functions over a cohort summary and action tallies.

The database sums a cohort into a `CohortSummary` (adapters/kpi_repository.py); `summarise`
computes the same summary from in-memory episodes, the reference the SQL is tested against.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from winback_metrics.domain.themes import themes
from winback_metrics.domain.uplift import Arms, Group, uplift

CENT = Decimal("0.01")
RETENTION_HORIZONS_DAYS = (90, 180, 365)
SECONDS_PER_DAY = 86_400
RESPONSE_OUTCOMES = ("delivered", "opened", "clicked", "replied", "converted")


@dataclass(frozen=True, slots=True)
class Episode:
    """One churn of the cohort: when it happened, when (if) the customer returned, when they churned again."""

    churned_at: datetime
    won_back_at: datetime | None = None
    next_churn_at: datetime | None = None
    churn_reason: str | None = None
    value_at_churn: Decimal | None = None
    value_after: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ActionTally:
    """Actions of the cohort with one status and reason, and what they cost."""

    status: str
    reason: str | None
    count: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Survival:
    """Won-back customers whose return is at least `horizon` days old, and how many of them are still active."""

    old_enough: int
    active: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    count: int
    texts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseRow:
    """Triggered actions of one channel, template or variant and their outcomes."""

    dimension: str  # channel | template | variant
    key: str
    triggered: int
    outcomes: Mapping[str, int]
    cost: Decimal = Decimal("0")
    won_back: int = 0


@dataclass(slots=True)
class CohortSummary:
    """Everything the KPI answer needs about a cohort's episodes, as sums."""

    churned: int = 0
    won_back: int = 0
    lost_revenue: Decimal = Decimal("0")
    days_mean: float | None = None
    days_median: float | None = None
    recovered_revenue: Decimal = Decimal("0")
    recovered_margin: Decimal = Decimal("0")
    clv_before: Decimal | None = None
    clv_after: Decimal | None = None
    survival: dict[int, Survival] = field(default_factory=dict)
    nps: tuple[int, int, int] = (0, 0, 0)  # answers, promoters, detractors
    csat: tuple[int, int] = (0, 0)  # answers, satisfied (4 or 5)
    # Intent-to-treat arms over episodes, by the episode's first enrolment (README, "uplift").
    treated: Group = field(default_factory=lambda: Group(0, 0))
    contacted: Group = field(default_factory=lambda: Group(0, 0))
    holdout: Group = field(default_factory=lambda: Group(0, 0))
    funnel: tuple[int, int, int, int] = (0, 0, 0, 0)  # enrolled, contacted, responded, won back
    reasons: list[ReasonCount] = field(default_factory=list)


def money(amount: Decimal) -> str:
    """Money as a decimal string in cents."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def _money_or_none(amount: Decimal | None) -> str | None:
    return None if amount is None else money(amount)


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


def survival(episodes: Sequence[Episode], now: datetime) -> dict[int, Survival]:
    """Per horizon: returns at least that old, and those not churned again within it."""
    result: dict[int, Survival] = {}
    for horizon in RETENTION_HORIZONS_DAYS:
        old_enough = [e for e in episodes if e.won_back_at is not None and e.won_back_at + timedelta(horizon) <= now]
        active = [
            e
            for e in old_enough
            if e.next_churn_at is None or e.next_churn_at > e.won_back_at + timedelta(horizon)  # type: ignore[operator]
        ]
        result[horizon] = Survival(len(old_enough), len(active))
    return result


def retention_shares(by_horizon: Mapping[int, Survival]) -> dict[str, float | None]:
    return {str(h): _fraction(s.active, s.old_enough) for h, s in sorted(by_horizon.items())}


def retention_after_winback(episodes: Sequence[Episode], now: datetime) -> dict[str, float | None]:
    """Share of won-back customers not churned again N days after their return (only returns N days old count)."""
    return retention_shares(survival(episodes, now))


def rechurn_rate(retention: dict[str, float | None]) -> dict[str, float | None]:
    return {h: None if share is None else round(1 - share, 6) for h, share in retention.items()}


def nps(answers: int, promoters: int, detractors: int) -> float | None:
    """Net promoter score on its usual -100..100 scale (% promoters minus % detractors)."""
    return None if answers == 0 else round(100 * (promoters - detractors) / answers, 2)


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return None if not values else sum(values, Decimal("0")) / len(values)


def summarise(episodes: Sequence[Episode], now: datetime) -> CohortSummary:
    """The summary of in-memory episodes (reference for the SQL; no surveys, actions or groups)."""
    won = [e for e in episodes if e.won_back_at is not None]
    days = [days_between(e.churned_at, e.won_back_at) for e in won if e.won_back_at is not None]
    reasons: dict[str, int] = {}
    for episode in episodes:
        key = episode.churn_reason or "unknown"
        reasons[key] = reasons.get(key, 0) + 1
    return CohortSummary(
        churned=len(episodes),
        won_back=len(won),
        lost_revenue=sum((e.value_at_churn or Decimal("0") for e in episodes), Decimal("0")),
        days_mean=statistics.fmean(days) if days else None,
        days_median=statistics.median(days) if days else None,
        clv_before=_mean([e.value_at_churn for e in won if e.value_at_churn is not None]),
        clv_after=_mean([e.value_after for e in won if e.value_after is not None]),
        survival=survival(episodes, now),
        reasons=[ReasonCount(r, n) for r, n in reasons.items()],
    )


def churn_reasons(reasons: Sequence[ReasonCount], churned: int) -> list[dict[str, Any]]:
    """Counts and shares by reason with their free-text themes, most frequent first: what to fix first."""
    ranked = sorted(reasons, key=lambda r: (-r.count, r.reason))
    return [
        {"reason": r.reason, "count": r.count, "share": _fraction(r.count, churned), "themes": themes(r.texts)}
        for r in ranked
    ]


def response_rates(rows: Sequence[ResponseRow]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per channel, template and variant: each outcome per triggered action."""
    answer: dict[str, dict[str, dict[str, Any]]] = {"channel": {}, "template": {}, "variant": {}}
    for row in rows:
        rates: dict[str, Any] = {"triggered": row.triggered}
        for outcome in RESPONSE_OUTCOMES:
            rates[outcome] = _fraction(row.outcomes.get(outcome, 0), row.triggered)
        answer[row.dimension][row.key] = rates
    return {dimension: dict(sorted(keys.items())) for dimension, keys in answer.items()}


def cost_by_channel(rows: Sequence[ResponseRow]) -> dict[str, dict[str, Any]]:
    """What each channel cost and cost per won-back customer it reached (shared win-backs count for each)."""
    answer: dict[str, dict[str, Any]] = {}
    for row in sorted((r for r in rows if r.dimension == "channel"), key=lambda r: r.key):
        per = cost_per_winback(row.cost, row.won_back)
        answer[row.key] = {"cost": money(row.cost), "won_back": row.won_back, "cost_per_winback": _money_or_none(per)}
    return answer


def _roi(margin: Decimal, cost_total: Decimal) -> float | None:
    return None if cost_total == 0 else round(float((margin - cost_total) / cost_total), 6)


def compute_kpis(
    cohort: Sequence[Episode] | CohortSummary,
    tallies: Sequence[ActionTally],
    now: datetime,
    *,
    responses: Sequence[ResponseRow] = (),
    playbooks: Mapping[str, Arms] | None = None,
) -> dict[str, Any]:
    """The KPI answer for one cohort."""
    summary = cohort if isinstance(cohort, CohortSummary) else summarise(cohort, now)
    cost_total = sum((t.cost for t in tallies if t.status == "triggered"), Decimal("0"))
    per_winback = cost_per_winback(cost_total, summary.won_back)
    suppressed_by_reason: dict[str, int] = {}
    for tally in tallies:
        if tally.status == "suppressed":
            key = tally.reason or "unknown"
            suppressed_by_reason[key] = suppressed_by_reason.get(key, 0) + tally.count
    retention = retention_shares(summary.survival)
    days = {
        "mean": None if summary.days_mean is None else round(summary.days_mean, 2),
        "median": None if summary.days_median is None else round(summary.days_median, 2),
    }
    answers, promoters, detractors = summary.nps
    csat_answers, satisfied = summary.csat
    return {
        "churned": summary.churned,
        "lost_revenue": money(summary.lost_revenue),
        "won_back": summary.won_back,
        "winback_rate": winback_rate(summary.won_back, summary.churned),
        "cost_total": money(cost_total),
        "cost_per_winback": _money_or_none(per_winback),
        "actions": {
            "triggered": sum(t.count for t in tallies if t.status == "triggered"),
            "suppressed": sum(suppressed_by_reason.values()),
            "suppressed_by_reason": dict(sorted(suppressed_by_reason.items())),
        },
        "days_to_winback": days,
        "recovered_revenue": money(summary.recovered_revenue),
        "recovered_margin": money(summary.recovered_margin),
        "roi": _roi(summary.recovered_margin, cost_total),
        "clv_before": _money_or_none(summary.clv_before),
        "clv_after": _money_or_none(summary.clv_after),
        "retention_after_winback": retention,
        "rechurn_rate": rechurn_rate(retention),
        "nps_won_back": nps(answers, promoters, detractors),
        "csat_won_back": _fraction(satisfied, csat_answers),
        "response_rates": response_rates(responses),
        "cost_by_channel": cost_by_channel(responses),
        "uplift": {
            "overall": uplift(Arms(summary.treated, summary.contacted, summary.holdout)),
            "by_playbook": {pb: uplift(arms) for pb, arms in sorted((playbooks or {}).items())},
        },
        "churn_reasons": churn_reasons(summary.reasons, summary.churned),
    }


def funnel(summary: CohortSummary) -> dict[str, Any]:
    """Enrolled → contacted → responded → won back, each stage a subset of the one before."""
    names = ("enrolled", "contacted", "responded", "won_back")
    stages = []
    previous = summary.churned
    for name, count in zip(names, summary.funnel, strict=True):
        stages.append({"stage": name, "count": count, "rate_from_previous": _fraction(count, previous)})
        previous = count
    return {"churned": summary.churned, "stages": stages}
