"""`winback simulate`'s loop: the simulated business lives day by day against the running stack.

Each day: the clocks move to the day's midnight (campaign settles the steps that came due,
consent decides at that moment), the actions campaign published since are handed to the
business (its responses go out with the day), and the day's events go to ingest in batches.

Waiting only where a decision depends on it:
- consent, before the next clock move, when the day's events could change a decision (a
  consent, a revocation, an objection, an unsubscribe, a profile) of a customer campaign could
  contact at that move (an active enrolment not held out, as read from `winback.campaign`):
  campaign asks consent at the moment of sending, so yesterday's objection must be known by then.
  A new enrolment's first step needs no wait: campaign itself holds a step until consent has
  applied the event that caused it, and a customer's earlier events precede it on the partition;
- risk, only when it falls more than two simulated days of events behind: campaign enrols on its
  status changes only within a replay window (7 days before campaign's clock), so a churn must
  reach campaign within days. Risk's clock moves every `assess_every_days` (default 7), not
  daily, because each move re-scores the whole population (the assessor, which lapses customers
  as time passes) and may refit the model: daily moves would cost a full re-scoring per
  simulated day, weekly ones put lapse flags on a 7-day grid (at most 7 days late). The
  assessor itself runs only once risk has caught up and reads facts up to its clock, so it need
  not be waited for. Event-caused changes (a cancellation's churn) are dated by the event;
- campaign, by the same rule as risk: it enrols on status changes only within its replay window,
  and a churn read late lets the steps of an earlier (at-risk) enrolment go out after the customer
  left. An action read a little late only reaches the business later (its effects are dated from
  the action);
- metrics not at all until the end: it answers after the run.

Clocks only move forward (spec/apis.md), so the simulated months begin at the stack's clock and
the run leaves every clock that many months later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any, Protocol

from winback_cli.simulation.http_client import StackClient
from winback_cli.simulation.kafka_feed import Feed, LagMonitor
from winback_cli.simulation.observed import Observed
from winback_shared.events.topics import Topic


class BusinessModel(Protocol):
    """The simulated business (simulation.business.Business) as the driver uses it."""

    def events_for_day(self, day: date) -> list[dict[str, Any]]: ...
    def on_campaign_event(self, event: dict[str, Any]) -> None: ...
    def on_action(self, event: dict[str, Any]) -> list[dict[str, Any]]: ...
    def playbooks_seen(self, playbooks: list[dict[str, Any]]) -> None: ...
    def truth(self) -> dict[str, Any]: ...
    def consent_basis_at(self, customer_id: str, channel: str, at: datetime) -> str | None: ...
    def erasures_for_day(self, day: date) -> list[tuple[str, datetime]]: ...


@dataclass(frozen=True)
class Pacing:
    """When to wait for the services; bounded, so a stuck service stops the run instead of hanging it."""

    # Consent must have applied every event that could change a decision before the clock passes it.
    sync_consent: bool = True
    # Risk's clock moves every this many days, and on the last day.
    assess_every_days: int = 7
    # Risk is waited for when it is more records behind than this many days of events.
    risk_max_days_behind: int = 2
    poll_s: float = 0.05
    timeout_s: float = 120.0
    # At the end: every service caught up and no action arriving for this long.
    settle_quiet_s: float = 1.5


@dataclass
class Progress:
    """What a progress line shows; updated after every day."""

    day: date | None = None
    days_done: int = 0
    days_total: int = 0
    events_sent: int = 0
    responses_sent: int = 0
    erasures: int = 0
    lags: dict[str, int] = field(default_factory=dict)
    waited_s: float = 0.0  # waiting for services to catch up
    waited_for: dict[str, float] = field(default_factory=dict)  # the same, by what was waited for
    posting_s: float = 0.0  # in ingest's POST /v1/events
    business_s: float = 0.0  # in the simulated business's own code
    clocks_s: float = 0.0  # moving the services' clocks
    lags_s: float = 0.0  # reading consumer lags from the broker
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


@dataclass
class RunResult:
    start: datetime
    end: datetime
    observed: Observed
    progress: Progress
    peak_lags: dict[str, int]
    wall_s: float
    # Records each service parked on winback.deadletter during the run (none in a sound run).
    parked: dict[str, int]


class ServicesStuck(RuntimeError):
    """A service did not catch up within the pacing's timeout."""


# What consent applies and decides on (its contract's types); a response only when it withdraws.
# Orders and new contracts (the existing-customer basis) are left out: a basis applied a day late
# can only suppress a contact, never allow one.
CONSENT_TYPES = frozenset(
    {"consent.granted", "consent.revoked", "contact.objected", "contract.cancelled", "customer.upserted"}
)
WITHDRAWING_OUTCOMES = frozenset({"unsubscribed", "complained"})


def _may_change_consent(event: dict[str, Any]) -> bool:
    kind = event.get("type")
    if kind == "campaign.response":
        return (event.get("data") or {}).get("outcome") in WITHDRAWING_OUTCOMES
    return kind in CONSENT_TYPES


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer days)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class Driver:
    """Runs one business against one stack; writes events.ndjson as it sends."""

    def __init__(
        self,
        stack: StackClient,
        business: BusinessModel,
        *,
        start: date,
        end: date,
        events_out: IO[str],
        pacing: Pacing | None = None,
        on_progress: Callable[[Progress], None] = lambda _: None,
    ) -> None:
        self.stack = stack
        self.business = business
        self.start, self.end = start, end
        self.pacing = pacing or Pacing()
        self.observed = Observed()
        self.progress = Progress(days_total=(end - start).days)
        self.peak_lags: dict[str, int] = {}
        self._events_out = events_out
        self._on_progress = on_progress
        self._feed = Feed(stack.address.bootstrap)
        self._lags = LagMonitor(stack.address.bootstrap)
        self._responses: list[dict[str, Any]] = []
        # Customers whose consent-relevant events consent may not have applied yet, and the customers
        # campaign could contact at the next clock move (an active enrolment that is not held out).
        self._consent_pending: set[str] = set()
        self._contactable: dict[str, set[str]] = {}
        self._recent_sizes: list[int] = []  # events sent on each of the last days

    async def run(self) -> RunResult:
        """Every day from start to end, then until the services have settled; returns what was seen."""
        began = time.monotonic()
        await self._feed.start()
        await self._lags.start()
        try:
            self.business.playbooks_seen((await self.stack.get("campaign", "/v1/playbooks"))["items"])
            day = self.start
            while day < self.end:
                await self._live(day)
                day += timedelta(days=1)
            await self._wait_for(("risk", "consent"))
            await self.stack.set_clocks(midnight(self.end))
            await self._settle()
        finally:
            await self._feed.stop()
            await self._lags.stop()
        return RunResult(
            midnight(self.start), midnight(self.end), self.observed, self.progress, self.peak_lags,
            time.monotonic() - began, dict(self._feed.parked),
        )  # fmt: skip

    async def _live(self, day: date) -> None:
        began = time.monotonic()
        await self.stack.set_clocks(midnight(day), skip=() if self._risk_day(day) else ("risk",))
        self.progress.clocks_s += time.monotonic() - began
        await self._read_feed()
        began = time.monotonic()
        events = self._responses + self.business.events_for_day(day)
        self.progress.business_s += time.monotonic() - began
        self.progress.responses_sent += len(self._responses)
        self._responses = []
        self._recent_sizes = [*self._recent_sizes, len(events)][-max(1, self.pacing.risk_max_days_behind) :]
        if events:
            await self._send(events)
            self._consent_pending |= {
                str((e.get("data") or {}).get("customer_id")) for e in events if _may_change_consent(e)
            }
        for customer_id, _ in self.business.erasures_for_day(day):
            await self.stack.erase(customer_id)
            self.progress.erasures += 1
        self.progress.day = day
        self.progress.days_done = (day - self.start).days + 1
        await self._catch_up(day)
        self._on_progress(self.progress)

    async def _send(self, events: list[dict[str, Any]]) -> None:
        self._events_out.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        began = time.monotonic()
        await self.stack.post_events(events)
        self.progress.posting_s += time.monotonic() - began
        self.progress.events_sent += len(events)

    async def _read_feed(self, timeout_ms: int = 0) -> int:
        published = await self._feed.poll(timeout_ms)
        for item in published:
            self.observed.record(item.event)
            if item.topic == Topic.ACTIONS.value:
                self._responses += self.business.on_action(item.event)
            elif item.topic == Topic.CAMPAIGN.value:
                self._track_enrollment(item.event)
                self.business.on_campaign_event(item.event)
        return len(published)

    def _risk_day(self, day: date) -> bool:
        every = max(1, self.pacing.assess_every_days)
        return (day - self.start).days % every == 0

    def _track_enrollment(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        customer, enrollment = str(data.get("customer_id")), str(data.get("enrollment_id"))
        if event.get("type") == "campaign.enrolled" and not data.get("holdout"):
            self._contactable.setdefault(customer, set()).add(enrollment)
        elif event.get("type") == "campaign.exited" and customer in self._contactable:
            self._contactable[customer].discard(enrollment)
            if not self._contactable[customer]:
                del self._contactable[customer]

    async def _catch_up(self, day: date) -> None:
        """Wait for consent and risk where decisions depend on them (see the module's docstring).

        Each lag read costs broker round trips (a coordinator lookup and an offset fetch per group),
        so lags are read only when a wait may be needed: consent's when a contactable customer's
        consent may have changed, risk's and campaign's every other day (their allowance is two days
        of events), all four weekly for the progress line and the peaks.
        """
        n = (day - self.start).days
        consent_needed = self.pacing.sync_consent and any(c in self._contactable for c in self._consent_pending)
        services: tuple[str, ...] = ("risk", "consent", "campaign", "metrics") if n % 7 == 0 else ()
        if not services and (consent_needed or n % 2 == 0):
            services = ("risk", "consent", "campaign")
        if not services:
            return
        lags = await self._measure(services)
        waiting: tuple[str, ...] = ()
        if consent_needed:
            waiting += ("consent",)
        allowance = max(100, sum(self._recent_sizes))
        # Campaign too: it enrols on a status change only within its replay window (7 days before its
        # clock), so a churn it reads a week late gets no win-back, and a check-in letter goes out after
        # the customer has left (seen: a churn read 10 simulated days late, in a second of wall time).
        waiting += tuple(s for s in ("risk", "campaign") if lags[s] > allowance)
        await self._wait_for(waiting, lags)
        if "consent" in waiting or lags["consent"] == 0:
            self._consent_pending.clear()

    async def _measure(self, services: tuple[str, ...]) -> dict[str, int]:
        began = time.monotonic()
        lags = await self._lags.lags(services)
        self.progress.lags_s += time.monotonic() - began
        for name, lag in lags.items():
            self.peak_lags[name] = max(self.peak_lags.get(name, 0), lag)
        self.progress.lags.update(lags)
        return lags

    async def _wait_for(self, services: tuple[str, ...], lags: dict[str, int] | None = None) -> None:
        """Until each of `services` has applied everything on its topics.

        Stuck means no progress for `timeout_s`, not slow: metrics is not waited for during the run,
        so at the end of a large one its backlog takes minutes, and that is no failure.
        """
        began = time.monotonic()
        lags = lags or await self._measure(services)
        best, progressed = sum(lags[s] for s in services), time.monotonic()
        while any(lags[s] > 0 for s in services):
            if time.monotonic() - progressed > self.pacing.timeout_s:
                behind = {s: lags[s] for s in services if lags[s] > 0}
                raise ServicesStuck(f"no progress for {self.pacing.timeout_s:.0f} s: {behind}")
            await self._read_feed(timeout_ms=int(self.pacing.poll_s * 1000))
            lags = await self._measure(services)
            if (total := sum(lags[s] for s in services)) < best:
                best, progressed = total, time.monotonic()
        spent = time.monotonic() - began
        self.progress.waited_s += spent
        key = "+".join(services)
        self.progress.waited_for[key] = self.progress.waited_for.get(key, 0.0) + spent

    async def _settle(self) -> None:
        """After the last day: until every service has caught up and nothing more arrives.

        The bound counts from when they first caught up (the backlog itself may take minutes).
        """
        await self._wait_for(("risk", "consent", "campaign", "metrics"))
        quiet_since = time.monotonic()
        began = time.monotonic()
        while time.monotonic() - began < self.pacing.timeout_s:
            await self._wait_for(("risk", "consent", "campaign", "metrics"))
            if await self._read_feed(timeout_ms=200):
                quiet_since = time.monotonic()
            if self._responses:
                responses, self._responses = self._responses, []
                self.progress.responses_sent += len(responses)
                await self._send(responses)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= self.pacing.settle_quiet_s and await self._feed.caught_up():
                return
        raise ServicesStuck("the services kept publishing after the last day")
