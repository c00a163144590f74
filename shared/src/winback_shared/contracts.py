"""Contract payments from a customer's contract events (pure, exact Decimal arithmetic).

One rule for every service: risk values a relationship with it, metrics counts the revenue of
won-back customers with it (its SQL twin `metrics.periods_begun` follows `periods_begun`).

A contract pays its monthly value at the start of every monthly period, in advance: the
periods begin on the start's day of the month (the 31st falls back to the month's last day).
A period counts as paid once it has begun, so partial months count in full: a contract that
runs from 15 January to an effective date of 10 March has paid three periods. A run ends
- at the cancellation's effective date; without one, at the contract's known end date when that
  lies after the notice, else at the notice itself (nothing more is known to be paid);
- otherwise at the latest end date of its start or renewals; without any end date it runs on
  (payments are counted up to the moment asked about, never beyond).
A renewal after a notice withdraws the notice; a new start of the same contract begins a new run.
A contract started without a monthly value pays nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Protocol


class ContractFact(Protocol):
    """A contract event as a service keeps it: kind (`contract_started`, `contract_renewed`,
    `contract_cancelled`), when, the contract id (`ref`), the monthly value of a start (`amount`) and
    the end date of a start or renewal or the effective date of a cancellation (`ends_on`)."""

    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def ends_on(self) -> date | None: ...


CONTRACT_KINDS = frozenset({"contract_started", "contract_renewed", "contract_cancelled"})
_ZERO = Decimal(0)
# A run pays the periods that began strictly before its end.
_TICK = datetime.resolution


@dataclass(frozen=True, slots=True)
class ContractRun:
    """One uninterrupted run of a contract: from its start until `ends_at` (None: open-ended)."""

    contract_id: str
    started_at: datetime
    monthly_value: Decimal
    ends_at: datetime | None


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (or earlier), clamped to the end of a shorter month."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def day_of(raw: str | None) -> date | None:
    """The calendar day an ISO date (or date-time) string names; None when absent or not a date."""
    try:
        return date.fromisoformat(raw[:10]) if raw else None
    except ValueError:
        return None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(slots=True)
class _Open:
    started_at: datetime
    monthly_value: Decimal
    end_date: date | None
    cancelled: ContractFact | None = None

    def ends_at(self) -> datetime | None:
        if self.cancelled is not None:
            effective = self.cancelled.ends_on
            if effective is not None:
                return _midnight(effective)
            notice = self.cancelled.at
            end = _midnight(self.end_date) if self.end_date is not None else None
            return end if end is not None and end > notice else notice
        return _midnight(self.end_date) if self.end_date is not None else None


def contract_runs(signals: Sequence[ContractFact]) -> list[ContractRun]:
    """Every run of every contract in the facts (in time order), with its end as far as known."""
    runs: list[ContractRun] = []
    current: dict[str, _Open] = {}
    for s in sorted((s for s in signals if s.kind in CONTRACT_KINDS), key=lambda s: s.at):
        ref = s.ref or ""
        if s.kind == "contract_started":
            if (previous := current.pop(ref, None)) is not None:
                runs.append(_closed(ref, previous, s.at))
            end = s.ends_on
            current[ref] = _Open(s.at, s.amount or _ZERO, end)
        elif (run := current.get(ref)) is not None:
            if s.kind == "contract_renewed":
                run.end_date = s.ends_on or run.end_date
                run.cancelled = None
            else:
                run.cancelled = s
    runs.extend(ContractRun(ref, o.started_at, o.monthly_value, o.ends_at()) for ref, o in current.items())
    return runs


def _closed(ref: str, run: _Open, restarted_at: datetime) -> ContractRun:
    end = run.ends_at()
    return ContractRun(ref, run.started_at, run.monthly_value, restarted_at if end is None else min(end, restarted_at))


def periods_begun(run: ContractRun, after: datetime | None, until: datetime) -> int:
    """Monthly periods of the run that began in (after, until] and before its end."""
    return periods_in(run, run.started_at if after is None else after + _TICK, until + _TICK)


def _periods_before(started: datetime, moment: datetime) -> int:
    """Periods of a run from `started` that begin strictly before `moment`."""
    if moment <= started:
        return 0
    months = (moment.year - started.year) * 12 + moment.month - started.month
    return months + 1 if add_months(started, months) < moment else months


def periods_in(run: ContractRun, start: datetime, stop: datetime) -> int:
    """Monthly periods of the run that begin in [start, stop) and before its end.

    metrics' SQL function `metrics.periods_between` is its twin (migration 0009); both compute in UTC.
    """
    end = stop if run.ends_at is None else min(stop, run.ends_at)
    return max(0, _periods_before(run.started_at, end) - _periods_before(run.started_at, start))


def paid(runs: Sequence[ContractRun], after: datetime | None, until: datetime) -> Decimal:
    """Payments of the runs whose periods began in (after, until]; `after` None: since each start."""
    return sum((r.monthly_value * periods_begun(r, after, until) for r in runs), _ZERO)


def monthly_value_running(runs: Sequence[ContractRun], at: datetime) -> Decimal:
    """The monthly value of the runs that had started by `at` and not ended before it (a notice at `at` still runs)."""
    return sum((r.monthly_value for r in runs if r.started_at <= at and (r.ends_at is None or r.ends_at >= at)), _ZERO)


def paid_ahead(runs: Sequence[ContractRun], at: datetime, months: int = 12) -> Decimal:
    """Payments due in the `months` after `at` from what is known now (open-ended runs pay every period)."""
    return paid(runs, at, add_months(at, months))
