"""Early-warning drivers: each turns the customer's signals up to `as_of` into a weight in [0, 1).

A weight is the probability-like strength of one warning; `risk.combine` merges them by
noisy-OR. Every threshold here is documented in the service README.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from winback_risk.domain.facts import Signal


class Driver(NamedTuple):
    """One warning that fired: its factor, weight in [0, 1) and what it rests on (a tuple: many are made per batch).

    With `args`, `detail` is a `str.format` template, written only when the driver is shown
    (`text`): every customer of a batch gets the rhythm drivers, few are ever shown.
    """

    factor: str
    weight: float
    detail: str
    args: tuple[object, ...] = ()

    def text(self) -> str:
        """What the driver rests on, as shown."""
        return self.detail.format(*self.args) if self.args else self.detail


DriverRule = Callable[[Sequence[Signal], datetime], Driver | None]

COMPLAINT_WINDOW = timedelta(days=180)
TICKET_OPEN_LONG = timedelta(days=14)
SURVEY_WINDOW = timedelta(days=365)
USAGE_RECENT = timedelta(days=30)
USAGE_BEFORE = timedelta(days=60)
CONTRACT_END_NEAR = timedelta(days=60)
CONTACT_WINDOW = timedelta(days=30)
CONTACTS_TOO_MANY = 4
RETURN_WINDOW = timedelta(days=180)


def _of(signals: Sequence[Signal], *kinds: str) -> list[Signal]:
    return [s for s in signals if s.kind in kinds]


def _open_tickets(signals: Sequence[Signal]) -> tuple[dict[str, Signal], set[str]]:
    """Tickets opened and not (yet) resolved as solved; and the ids resolved as unsolved."""
    opened = {s.ref or "": s for s in _of(signals, "ticket_opened")}
    unsolved: set[str] = set()
    for s in _of(signals, "ticket_resolved"):
        # A ticket closed as unsolved is no longer open, but the complaint stays unresolved.
        opened.pop(s.ref or "", None)
        if s.label == "unsolved":
            unsolved.add(s.ref or "")
    return opened, unsolved


def complaints(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """Unresolved complaints weigh 0.25 each, repeated complaints (180 days) 0.1 per repeat; cap 0.6."""
    all_complaints = [s for s in _of(signals, "ticket_opened") if s.label == "complaint"]
    ids = {s.ref for s in all_complaints}
    opened, unsolved = _open_tickets(signals)
    unresolved = len({r for r in ids if r in opened or r in unsolved})
    recent = sum(1 for s in all_complaints if as_of - s.at <= COMPLAINT_WINDOW)
    weight = min(0.6, 0.25 * unresolved + 0.1 * max(0, recent - 1))
    if weight <= 0:
        return None
    return Driver("complaints", weight, f"{unresolved} unresolved, {recent} in the last 180 days")


def tickets_open_long(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """Each ticket open for more than 14 days weighs 0.15; cap 0.4."""
    opened, _ = _open_tickets(signals)
    stale = sorted((as_of - s.at).days for s in opened.values() if as_of - s.at > TICKET_OPEN_LONG)
    if not stale:
        return None
    return Driver("tickets_open_long", min(0.4, 0.15 * len(stale)), f"{len(stale)} open, oldest {stale[-1]} days")


def nps_detractor(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """The latest NPS (365 days) at 0-6: 0.15 at 6 up to 0.33 at 0."""
    answers = [s for s in _of(signals, "survey") if s.label == "nps" and as_of - s.at <= SURVEY_WINDOW]
    if not answers:
        return None
    score = max(answers, key=lambda s: s.at).value or 0.0
    if score > 6:
        return None
    return Driver("nps_detractor", 0.15 + 0.03 * (6 - score), f"latest NPS {score:g}")


def low_csat(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """The latest CSAT survey or ticket satisfaction (365 days) at 1-2 of 5: 0.2 at 1, 0.15 at 2."""
    rated = [
        s
        for s in signals
        if ((s.kind == "survey" and s.label == "csat") or s.kind == "ticket_resolved")
        and s.value is not None
        and as_of - s.at <= SURVEY_WINDOW
    ]
    if not rated:
        return None
    latest = max(rated, key=lambda s: s.at)
    score = latest.value or 0.0
    if score > 2:
        return None
    return Driver("low_csat", 0.2 if score <= 1 else 0.15, f"latest satisfaction {score:g} of 5 ({latest.kind})")


def falling_usage(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """Usage per day in the last 30 days against the 60 before; a drop of 30 % or more weighs drop/2, cap 0.5."""
    worst: tuple[float, str] | None = None
    for metric in {s.ref for s in _of(signals, "usage")}:
        rows = [s for s in _of(signals, "usage") if s.ref == metric]
        recent = sum(s.value or 0.0 for s in rows if as_of - s.at <= USAGE_RECENT) / USAGE_RECENT.days
        before = sum(s.value or 0.0 for s in rows if USAGE_RECENT < as_of - s.at <= USAGE_RECENT + USAGE_BEFORE)
        before /= USAGE_BEFORE.days
        if before <= 0:
            continue
        drop = 1.0 - recent / before
        if drop >= 0.3 and (worst is None or drop > worst[0]):
            worst = (drop, metric or "usage")
    if worst is None:
        return None
    return Driver("falling_usage", min(0.5, worst[0] / 2), f"{worst[1]} down {worst[0]:.0%} vs the 60 days before")


def _end_date(label: str | None) -> date | None:
    try:
        return date.fromisoformat(label[:10]) if label else None
    except ValueError:
        return None


def contract_end_near(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """A live contract whose latest known end date is within 60 days, not renewed past it: 0.3."""
    ends: dict[str, date | None] = {}
    for s in sorted(_of(signals, "contract_started", "contract_renewed", "contract_cancelled"), key=lambda s: s.at):
        if s.kind == "contract_cancelled":
            ends.pop(s.ref or "", None)
        else:
            ends[s.ref or ""] = _end_date(s.label) or ends.get(s.ref or "")
    today = as_of.date()
    near = sorted(
        (end, ref) for ref, end in ends.items() if end is not None and today <= end <= today + CONTRACT_END_NEAR
    )
    if not near:
        return None
    end, ref = near[0]
    return Driver("contract_end_near", 0.3, f"contract {ref} ends {end.isoformat()}, not renewed")


def over_contacted(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """Four or more marketing contacts in 30 days: 0.1, plus 0.05 per further contact; cap 0.3."""
    n = sum(1 for s in _of(signals, "contact") if as_of - s.at <= CONTACT_WINDOW)
    if n < CONTACTS_TOO_MANY:
        return None
    return Driver("over_contacted", min(0.3, 0.1 + 0.05 * (n - CONTACTS_TOO_MANY)), f"{n} contacts in 30 days")


def returns(signals: Sequence[Signal], as_of: datetime) -> Driver | None:
    """Each return in 180 days weighs 0.1; cap 0.3."""
    n = sum(1 for s in _of(signals, "return") if as_of - s.at <= RETURN_WINDOW)
    return Driver("returns", min(0.3, 0.1 * n), f"{n} returns in 180 days") if n else None


RULES: tuple[DriverRule, ...] = (
    complaints,
    tickets_open_long,
    nps_detractor,
    low_csat,
    falling_usage,
    contract_end_near,
    over_contacted,
    returns,
)


def signal_drivers(signals: Sequence[Signal], as_of: datetime) -> list[Driver]:
    """All early-warning drivers that fire, from signals with time <= as_of."""
    visible = [s for s in signals if s.at <= as_of]
    if not visible:
        return []
    return [d for d in (rule(visible, as_of) for rule in RULES) if d is not None]


def has_live_contract(signals: Sequence[Signal], as_of: datetime) -> bool:
    """A contract started or renewed and not cancelled by as_of (its end date not passed)."""
    live: dict[str, date | None] = {}
    for s in sorted((s for s in signals if s.at <= as_of), key=lambda s: s.at):
        if s.kind in ("contract_started", "contract_renewed"):
            live[s.ref or ""] = _end_date(s.label) or live.get(s.ref or "")
        elif s.kind == "contract_cancelled":
            live.pop(s.ref or "", None)
    return any(end is None or end >= as_of.date() for end in live.values())
