"""Uplift as the intent-to-treat effect: win-back rate of the enrolled not held out minus the holdout's.

Holdout assignment is random (a hash of customer and playbook); who of the others is actually
contacted is not (consent suppresses some, and those without consent may return more or less
often on their own). Comparing contacted customers with the holdout therefore mixes the effect of
the contact with the difference between reachable and unreachable customers. Comparing everyone
assigned to be contacted ("treated") with the holdout compares two random halves of the same
population: that is `uplift`. The effect on the customers actually contacted is the
intent-to-treat effect divided by the contact rate (Bloom 1984: held-out customers are never
contacted by their playbook, and a customer who was not contacted is not changed by the programme).

The interval is Newcombe's hybrid score interval (Newcombe 1998, method 10): Wilson score limits
of each rate combined by the square-and-add rule. Unlike the Wald interval it stays inside
[-1, 1] and keeps a width when a group has 0 % or 100 % won back. The p-value is the two-sided
two-proportion z-test with the pooled rate; it is 1.0 when the pooled rate is 0 or 1 (no variance,
no evidence of a difference).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scipy.stats import norm

Z_95 = float(norm.ppf(0.975))


@dataclass(frozen=True, slots=True)
class Group:
    """How many customers a group has and how many of them were won back."""

    size: int
    won_back: int

    @property
    def rate(self) -> float | None:
        return None if self.size == 0 else self.won_back / self.size


def wilson(won: int, size: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of one proportion."""
    p = won / size
    denominator = 1 + z * z / size
    centre = (p + z * z / (2 * size)) / denominator
    half = z * math.sqrt(p * (1 - p) / size + z * z / (4 * size * size)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(treated: Group, holdout: Group, z: float = Z_95) -> tuple[float, float]:
    """95 % interval of treated rate minus holdout rate (both groups non-empty)."""
    p1, p2 = treated.won_back / treated.size, holdout.won_back / holdout.size
    l1, u1 = wilson(treated.won_back, treated.size, z)
    l2, u2 = wilson(holdout.won_back, holdout.size, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def two_proportion_p_value(treated: Group, holdout: Group) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    pooled = (treated.won_back + holdout.won_back) / (treated.size + holdout.size)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / treated.size + 1 / holdout.size))
    z = (treated.won_back / treated.size - holdout.won_back / holdout.size) / se
    return float(2 * norm.sf(abs(z)))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _clip(value: float) -> float:
    # The effect on the contacted is a difference of two probabilities: it lies in [-1, 1].
    return max(-1.0, min(1.0, value))


@dataclass(frozen=True, slots=True)
class Arms:
    """One randomised comparison: assigned to be contacted, of them actually contacted, and held out."""

    treated: Group
    contacted: Group
    holdout: Group


@dataclass(frozen=True, slots=True)
class EnrolledEpisode:
    """One enrolled churn episode: its arm (by its first enrolment), whether it was reached, whether it came back."""

    held_out: bool
    contacted: bool
    won_back: bool


def arms_of(episodes: Iterable[EnrolledEpisode]) -> Arms:
    """The arms of in-memory episodes (the reference the SQL of adapters/kpi_repository.py is tested against)."""
    every = list(episodes)
    treated = [e for e in every if not e.held_out]
    held_out = [e for e in every if e.held_out]
    contacted = [e for e in treated if e.contacted]
    return Arms(_group(treated), _group(contacted), _group(held_out))


def _group(episodes: list[EnrolledEpisode]) -> Group:
    return Group(len(episodes), sum(e.won_back for e in episodes))


def uplift(arms: Arms) -> dict[str, Any]:
    """The spec's uplift object; estimates are null while the treated or the holdout group is empty."""
    treated, contacted, holdout = arms.treated, arms.contacted, arms.holdout
    contact_rate = None if treated.size == 0 else contacted.size / treated.size
    answer: dict[str, Any] = {
        "uplift": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "treated": treated.size,
        "treated_rate": _round(treated.rate),
        "holdout": holdout.size,
        "holdout_rate": _round(holdout.rate),
        "contact_rate": _round(contact_rate),
        "uplift_contacted": None,
        "uplift_contacted_ci_low": None,
        "uplift_contacted_ci_high": None,
        # Descriptive only: who was reached is not random, so this pair is no effect estimate.
        "contacted": contacted.size,
        "contacted_rate": _round(contacted.rate),
    }
    if not (treated.size and holdout.size):
        return answer
    itt = treated.won_back / treated.size - holdout.won_back / holdout.size
    low, high = newcombe_interval(treated, holdout)
    answer["uplift"], answer["ci_low"], answer["ci_high"] = _round(itt), _round(low), _round(high)
    answer["p_value"] = _round(two_proportion_p_value(treated, holdout))
    if contact_rate:
        # Bounds divided by the observed contact rate: its own sampling error is left out (see README).
        answer["uplift_contacted"] = _round(_clip(itt / contact_rate))
        answer["uplift_contacted_ci_low"] = _round(_clip(low / contact_rate))
        answer["uplift_contacted_ci_high"] = _round(_clip(high / contact_rate))
    return answer
