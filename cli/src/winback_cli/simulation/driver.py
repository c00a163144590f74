"""`winback simulate`'s loop: the simulated business lives day by day against the running stack.

Each day: every service's clock moves to the day's midnight (campaign settles the steps that
came due, risk re-assesses), the actions campaign published since are handed to the business
(its responses go out with the day), the day's events go to ingest in batches, and before the
clock moves on, the services whose decisions depend on that day's events are waited for:
consent (campaign asks it at the moment of sending, so an objection of yesterday must be known)
and risk (its assessor lapses customers only when caught up, and campaign enrols on its status
changes only within its replay window). Campaign and metrics are not waited for day by day: an
action read a little late only reaches the business later, and metrics answers at the end.

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

    # Consent must have applied every event before the clock passes it (decisions at sending time).
    sync_consent: bool = True
    # Risk: waited for when it is this many records behind, and at least every `risk_every_days`.
    risk_max_lag: int = 0
    risk_every_days: int = 1
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
    posting_s: float = 0.0  # in ingest's POST /v1/events
    business_s: float = 0.0  # in the simulated business's own code
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


class ServicesStuck(RuntimeError):
    """A service did not catch up within the pacing's timeout."""


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
            await self.stack.set_clocks(midnight(self.end))
            await self._settle()
        finally:
            await self._feed.stop()
            await self._lags.stop()
        return RunResult(
            midnight(self.start), midnight(self.end), self.observed, self.progress, self.peak_lags,
            time.monotonic() - began,
        )  # fmt: skip

    async def _live(self, day: date) -> None:
        await self.stack.set_clocks(midnight(day))
        await self._read_feed()
        began = time.monotonic()
        events = self._responses + self.business.events_for_day(day)
        self.progress.business_s += time.monotonic() - began
        self.progress.responses_sent += len(self._responses)
        self._responses = []
        if events:
            await self._send(events)
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
                self.business.on_campaign_event(item.event)
        return len(published)

    async def _catch_up(self, day: date) -> None:
        """Wait for the services the next clock move depends on (see the module's docstring)."""
        waiting: tuple[str, ...] = ()
        if self.pacing.sync_consent:
            waiting += ("consent",)
        risk_due = self.pacing.risk_every_days > 0 and (day - self.start).days % self.pacing.risk_every_days == 0
        lags = await self._measure(("risk", "consent", "campaign", "metrics"))
        if risk_due or lags["risk"] > self.pacing.risk_max_lag:
            waiting += ("risk",)
        await self._wait_for(waiting, lags)

    async def _measure(self, services: tuple[str, ...]) -> dict[str, int]:
        lags = await self._lags.lags(services)
        for name, lag in lags.items():
            self.peak_lags[name] = max(self.peak_lags.get(name, 0), lag)
        self.progress.lags.update(lags)
        return lags

    async def _wait_for(self, services: tuple[str, ...], lags: dict[str, int] | None = None) -> None:
        """Until each of `services` has applied everything on its topics."""
        began = time.monotonic()
        lags = lags or await self._measure(services)
        while any(lags[s] > 0 for s in services):
            if time.monotonic() - began > self.pacing.timeout_s:
                behind = {s: lags[s] for s in services if lags[s] > 0}
                raise ServicesStuck(f"not caught up after {self.pacing.timeout_s:.0f} s: {behind}")
            await self._read_feed(timeout_ms=int(self.pacing.poll_s * 1000))
            lags = await self._measure(services)
        self.progress.waited_s += time.monotonic() - began

    async def _settle(self) -> None:
        """After the last day: until every service has caught up and nothing more arrives."""
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
