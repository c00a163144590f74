"""Uplift of contacted over holdout customers: difference of two win-back rates, its 95 % interval and p-value.

The interval is Newcombe's hybrid score interval (Newcombe 1998, method 10): Wilson score limits
of each rate combined by the square-and-add rule. Unlike the Wald interval it stays inside
[-1, 1] and keeps a width when a group has 0 % or 100 % won back. The p-value is the two-sided
two-proportion z-test with the pooled rate; it is 1.0 when the pooled rate is 0 or 1 (no variance,
no evidence of a difference).
"""

from __future__ import annotations

import math
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


def newcombe_interval(contacted: Group, holdout: Group, z: float = Z_95) -> tuple[float, float]:
    """95 % interval of contacted rate minus holdout rate (both groups non-empty)."""
    p1, p2 = contacted.won_back / contacted.size, holdout.won_back / holdout.size
    l1, u1 = wilson(contacted.won_back, contacted.size, z)
    l2, u2 = wilson(holdout.won_back, holdout.size, z)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def two_proportion_p_value(contacted: Group, holdout: Group) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    pooled = (contacted.won_back + holdout.won_back) / (contacted.size + holdout.size)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / contacted.size + 1 / holdout.size))
    z = (contacted.won_back / contacted.size - holdout.won_back / holdout.size) / se
    return float(2 * norm.sf(abs(z)))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def uplift(contacted: Group, holdout: Group) -> dict[str, Any]:
    """The spec's uplift object; interval and p-value are null while either group is empty."""
    answer: dict[str, Any] = {
        "contacted_rate": _round(contacted.rate),
        "holdout_rate": _round(holdout.rate),
        "uplift": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "contacted": contacted.size,
        "holdout": holdout.size,
    }
    if contacted.size and holdout.size:
        low, high = newcombe_interval(contacted, holdout)
        answer["uplift"] = _round(contacted.won_back / contacted.size - holdout.won_back / holdout.size)
        answer["ci_low"], answer["ci_high"] = _round(low), _round(high)
        answer["p_value"] = _round(two_proportion_p_value(contacted, holdout))
    return answer
