"""Why a customer left and whether winning them back is worth trying (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from winback_risk.domain.drivers import Driver
from winback_risk.domain.facts import Signal

# The typology of the spec, keyed by the driver that points to it (strongest driver wins).
TYPOLOGY_OF_DRIVER = {
    "complaints": "disappointed",
    "low_csat": "disappointed",
    "nps_detractor": "disappointed",
    "tickets_open_long": "neglected",
    "over_contacted": "over_contacted",
    "falling_usage": "low_adoption",
    "returns": "quality",
}
# Base win-back probability per (given or inferred) reason: situational reasons are easiest,
# fundamental ones hardest.
BASE_PROBABILITY = {
    "budget": 0.5,
    "moved": 0.5,
    "life_change": 0.5,
    "no_need": 0.4,
    "price": 0.4,
    "over_contacted": 0.35,
    "neglected": 0.35,
    "service": 0.3,
    "switcher": 0.3,
    "other": 0.3,
    "unknown": 0.3,
    "competitor": 0.25,
    "feature_gap": 0.25,
    "disappointed": 0.2,
    "quality": 0.2,
    "low_usage": 0.15,
    "low_adoption": 0.15,
}
INELIGIBLE = 0.0


def infer_churn_reason(
    drivers: Sequence[Driver], signals: Sequence[Signal], as_of: datetime
) -> tuple[str, dict[str, Any]]:
    """Map the strongest pointing driver onto the typology; `unknown` with no evidence otherwise."""
    pointing = [d for d in drivers if d.factor in TYPOLOGY_OF_DRIVER]
    if not pointing:
        return "unknown", {"inferred": True, "evidence": []}
    strongest = max(pointing, key=lambda d: d.weight)
    evidence = [{"factor": d.factor, "detail": d.text()} for d in sorted(pointing, key=lambda d: -d.weight)]
    return TYPOLOGY_OF_DRIVER[strongest.factor], {"inferred": True, "evidence": evidence, "as_of": as_of.isoformat()}


def winback_probability(
    reason: str | None,
    *,
    eligible: bool,
    occasions: int,
    live_usage: bool,
    failed_winbacks: int,
    churned_at: datetime | None,
    as_of: datetime,
) -> float:
    """Base by reason x engagement x 0.6 per failed earlier win-back x decay with time since churn.

    Engagement: 1.2 for regular buyers (3+ purchase occasions) or reported usage, 0.7 for
    single-purchase customers, 1.0 otherwise. Time decay: 0.5 + 0.5 * exp(-days / 365).
    Ineligible customers get 0.
    """
    if not eligible:
        return INELIGIBLE
    base = BASE_PROBABILITY.get(reason or "unknown", BASE_PROBABILITY["unknown"])
    engagement = 1.2 if occasions >= 3 or live_usage else (0.7 if occasions <= 1 else 1.0)
    days = max(0.0, (as_of - churned_at).total_seconds() / 86_400) if churned_at is not None else 0.0
    decay = 0.5 + 0.5 * math.exp(-days / 365.0)
    return round(min(1.0, base * engagement * 0.6**failed_winbacks * decay), 4)


def segment_of(tier: str | None, probability: float, high_tiers: str, probability_threshold: float) -> str | None:
    """The value x win-back-probability quadrant; None before value tiers exist (no fit yet)."""
    if tier is None:
        return None
    high_value = tier in high_tiers
    likely = probability >= probability_threshold
    if high_value:
        return "star" if likely else "question_mark"
    return "take_along" if likely else "loss"
