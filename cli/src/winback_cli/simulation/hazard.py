"""Exponential clocks over piecewise hazards: when does the cumulative hazard reach a drawn target?

Every random time of the model that contacts can change (the next order, the return after churn) is
the first time its cumulative hazard reaches a target E = -ln U drawn once. Potential outcomes
with and without a contact share E (common random numbers), so they differ only by what the contact
did to the hazard. Times are float days since the simulation's start.

The hazard is `base(t) * factor(t) * lift(t)`: `base` is a constant rate or a decaying return
hazard `b * exp(-(t - origin) / decay)`; `factor` is the product of contact-independent multipliers
(a feature shipping for a feature-gap leaver); `lift` is the largest lift of the contacts working
at `t` (contacts do not stack).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True, slots=True)
class Interval:
    """A multiplier working on [start, end)."""

    start: float
    end: float
    value: float


@dataclass(frozen=True, slots=True)
class Base:
    """`rate` per day, constant (decay None) or decaying with `decay` days from `origin`."""

    rate: float
    origin: float = 0.0
    decay: float | None = None

    def integral(self, a: float, b: float) -> float:
        """Cumulative base hazard over [a, b]."""
        if self.rate <= 0.0 or b <= a:
            return 0.0
        if self.decay is None:
            return self.rate * (b - a)
        d = self.decay
        return self.rate * d * (math.exp(-(a - self.origin) / d) - math.exp(-(b - self.origin) / d))

    def solve(self, a: float, need: float) -> float:
        """The x >= a with integral(a, x) == need, or INF when the hazard never gathers that much."""
        if self.rate <= 0.0:
            return INF
        if self.decay is None:
            return a + need / self.rate
        d = self.decay
        remaining = math.exp(-(a - self.origin) / d) - need / (self.rate * d)
        if remaining <= 0.0:
            return INF
        return self.origin - d * math.log(remaining)


def _multiplier(t: float, factors: Sequence[Interval], lifts: Sequence[Interval]) -> float:
    factor = 1.0
    for f in factors:
        if f.start <= t < f.end:
            factor *= f.value
    lift = 1.0
    for c in lifts:
        if c.start <= t < c.end and c.value > lift:
            lift = c.value
    return factor * lift


def crossing(
    base: Base,
    start: float,
    until: float,
    target: float,
    factors: Sequence[Interval] = (),
    lifts: Sequence[Interval] = (),
) -> tuple[float | None, float]:
    """First t in [start, until) where the cumulative hazard from `start` reaches `target`.

    Returns (t or None, the hazard gathered up to t or `until`).
    """
    points = {start, until}
    for interval in (*factors, *lifts):
        for p in (interval.start, interval.end):
            if start < p < until:
                points.add(p)
    edges = sorted(points)
    gathered = 0.0
    for a, b in itertools.pairwise(edges):
        m = _multiplier(a, factors, lifts)
        piece = m * base.integral(a, b)
        if gathered + piece >= target and m > 0.0:
            x = base.solve(a, (target - gathered) / m)
            return min(max(x, a), b), target
        gathered += piece
    return None, gathered
