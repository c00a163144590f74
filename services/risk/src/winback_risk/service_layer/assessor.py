"""The scheduled assessor: re-scores every customer at the clock's now, so time can pass.

Lapsing and behavioural churn happen without any event; this is where they are noticed.
Pages of customers, one transaction each, ordered by id (no deadlocks with the consumer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from winback_risk.contract import CONTRACT
from winback_risk.service_layer import assessment
from winback_risk.service_layer.handlers import Scoring, position_of, status_changed_event
from winback_risk.service_layer.unit_of_work import RiskUnitOfWork
from winback_shared.aio import wait_any
from winback_shared.clock import Clock

log = structlog.get_logger(__name__)


async def assess_all(
    uow: RiskUnitOfWork,
    now: datetime,
    scoring: Scoring,
    *,
    source: str,
    page_size: int,
    on_published: Callable[[], None] = lambda: None,
) -> int:
    """Score every customer at `now`, one transaction (one `async with uow`) per page; returns messages published."""
    after: str | None = None
    published = 0
    while True:
        async with uow:
            ids = await uow.customers.ids_after(after, page_size)
            if not ids:
                return published
            states = await uow.customers.load_for_update(ids)
            touched = [states[c] for c in ids if c in states]
            facts = await assessment.load_facts(uow.facts, touched, now)
            outcome = assessment.score_states(
                touched, facts, now, scoring.model, scoring.config,
                horizon_days=scoring.horizon_days, basis=scoring.basis, source=source,
            )  # fmt: skip
            await uow.customers.save(touched, now)
            # No event caused these changes (time passed): they name the customer's latest applied event.
            messages = [
                CONTRACT.message(status_changed_event(c, source, position_of(c, states[c.customer_id], set())))
                for c in outcome.changes
            ]
            messages += [CONTRACT.message(e) for e in outcome.assessed]
            await uow.outbox.add(messages)
            await uow.commit()
        published += len(messages)
        if messages:
            on_published()
        after = ids[-1]


# How often a woken assessment checks whether the consumers have caught up: often, since a
# backlog's lag may read 0 only for moments (tests/integration/test_console_risk.py missed them at 0.5 s).
CAUGHT_UP_POLL_S = 0.05


class Assessor:
    """Runs `assess_all` every interval of the injected clock (and when woken), once the consumer is caught up."""

    def __init__(
        self,
        run_once: Callable[[datetime], Awaitable[int]],
        clock: Clock,
        interval_s: float,
        caught_up: Callable[[], bool] = lambda: True,
    ) -> None:
        self._run_once = run_once
        self._caught_up = caught_up
        self._clock = clock
        self._interval = timedelta(seconds=interval_s)
        self._last: datetime | None = None
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = self._clock.now()
            due = self._last is None or now - self._last >= self._interval or self._wakeup.is_set()
            # While a replay is being absorbed, "now" is ahead of the events: wait until caught up,
            # or customers would lapse on history that is still arriving.
            if due and self._caught_up():
                self._wakeup.clear()
                published = await self._run_once(now)
                self._last = now
                log.info("customers_assessed", at=now.isoformat(), published=published)
            elif self._wakeup.is_set():
                # Woken while catching up: waiting on the wake-up, set already, would return at once,
                # and the loop spun beside the consumers for the whole replay (a tenth of the HTTP
                # process's samples in py-spy). The wake-up stays set; poll until caught up.
                await wait_any(stop, seconds=CAUGHT_UP_POLL_S)
                continue
            await wait_any(self._wakeup, stop, seconds=min(self._interval.total_seconds(), 5.0))
