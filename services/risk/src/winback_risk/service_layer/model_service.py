"""The population model: the one in use, fitting it now, and refitting it on a schedule."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import facts_repository
from winback_risk.domain.model.population import PRIOR, PopulationModel, Summaries, fit_population
from winback_shared.aio import wait_any
from winback_shared.clock import Clock

log = structlog.get_logger(__name__)


class ModelHolder:
    """The model scores use: the latest fit, or the documented prior before the first fit.

    With `refresh_s`, the stored model is read again at most that often and taken when newer:
    a fit made by another replica or by this instance's HTTP process then reaches every
    consumer process within `refresh_s` (`model_poll_s`, a minute by default).
    """

    def __init__(self, refresh_s: float | None = None) -> None:
        self.current: PopulationModel = PRIOR
        self._refresh_s = refresh_s
        self._read_at: float | None = None

    def _stale(self) -> bool:
        if self._read_at is None:
            return True
        return self._refresh_s is not None and time.monotonic() - self._read_at >= self._refresh_s

    async def get(self, sessions: async_sessionmaker[AsyncSession]) -> PopulationModel:
        if self._stale():
            async with sessions() as session:
                stored = await facts_repository.latest_model(session)
            # A fit made by this process meanwhile may be newer than the stored one it read.
            if stored is not None and _newer(stored, self.current):
                self.current = stored
            self._read_at = time.monotonic()
        return self.current


def _newer(candidate: PopulationModel, current: PopulationModel) -> bool:
    if candidate.fitted_at is None:
        return False
    return current.fitted_at is None or candidate.fitted_at > current.fitted_at


def _fit(
    summaries: Summaries, now: datetime, quantiles: tuple[float, float], previous: PopulationModel
) -> PopulationModel:
    started = time.perf_counter()
    model = fit_population(summaries, fitted_at=now, tier_quantiles=quantiles, previous=previous)
    model.statistics["fit_seconds"] = round(time.perf_counter() - started, 3)
    return model


async def fit_now(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    holder: ModelHolder,
    *,
    basis: str,
    quantiles: tuple[float, float],
) -> PopulationModel:
    """Refit over all customers' summaries at now, store the fit and serve it from then on.

    Raises FitFailed when there are too few customers with orders.
    """
    now = clock.now()
    async with sessions() as session:
        summaries = await facts_repository.all_summaries(session, now, basis)
    previous = await holder.get(sessions)
    # The optimiser is CPU-bound for seconds: off the event loop, so the API keeps answering.
    model = await asyncio.to_thread(_fit, summaries, now, quantiles, previous)
    async with sessions.begin() as session:
        await facts_repository.save_model(session, model)
    holder.current = model
    log.info("model_fitted", customers=model.customers_used, log_likelihood=model.log_likelihood)
    return model


class Refitter:
    """Refits every `interval`, measured on the injected clock (so a moved clock makes it due)."""

    def __init__(
        self, fit: Callable[[], Awaitable[object]], clock: Clock, holder: ModelHolder, interval_s: float, poll_s: float
    ) -> None:
        self._fit = fit
        self._clock = clock
        self._holder = holder
        self._interval = timedelta(seconds=interval_s)
        self._poll_s = poll_s
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    def due(self, now: datetime) -> bool:
        fitted = self._holder.current.fitted_at
        return fitted is None or now - fitted >= self._interval

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.due(self._clock.now()):
                try:
                    await self._fit()
                except Exception as exc:  # too few customers yet, or a failed optimisation: retry next round
                    log.info("model_fit_skipped", reason=str(exc))
            self._wakeup.clear()
            await wait_any(self._wakeup, stop, seconds=self._poll_s)
