"""The population model: the one in use, fitting it now, and refitting it on a schedule."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_risk.adapters import facts_repository, repository
from winback_risk.adapters.repository import CustomerFilter
from winback_risk.adapters.unit_of_work import SqlFacts
from winback_risk.domain.model.limits import DATA_REASONS, FitRules
from winback_risk.domain.model.population import PRIOR, PopulationModel, Summaries, fit_population
from winback_risk.domain.scoring import CustomerFacts, OrderSummary, RiskConfig, decision_values, summaries_of
from winback_risk.service_layer.assessment import load_facts
from winback_risk.service_layer.queries import as_of_state
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


def summaries_at(orders: Sequence[OrderSummary], as_of: datetime, value_basis: str) -> Summaries:
    """The fit's inputs: the same (x, t_x, T, value) the scores of these customers at as_of use.

    Built by scoring's own `summaries_of`, so a fit and the scores it serves can never
    disagree on time unit, same-day orders or where T ends (`winback backtest` uses this too).
    """
    summaries, _ = summaries_of(_buyers(orders), [as_of] * sum(o.occasions > 0 for o in orders), value_basis)
    return summaries


def _buyers(orders: Sequence[OrderSummary]) -> list[CustomerFacts]:
    """Customers known only by their orders (active, no signals): what a backtest knows of them."""
    return [CustomerFacts(customer_id="", base_status="active", orders=o) for o in orders if o.occasions > 0]


def fit_at(
    orders: Sequence[OrderSummary],
    as_of: datetime,
    *,
    value_basis: str,
    quantiles: tuple[float, float],
    rules: FitRules,
    fitted_at: datetime | None = None,
    previous: PopulationModel | None = None,
    customers: Sequence[CustomerFacts] | None = None,
    config: RiskConfig | None = None,
) -> PopulationModel:
    """The population model over these customers' orders up to as_of (pure; the service and the backtest).

    The value-tier cut-offs rank every customer's decision value at as_of, assessed by the one
    assessment with the model just fitted: `customers` are the whole base's facts (the service
    passes them; without them, the customers of `orders`, known by their orders alone).
    """
    started = time.perf_counter()
    base = list(customers) if customers is not None else _buyers(orders)
    risk_config = config or RiskConfig()

    def ranked(draft: PopulationModel) -> npt.NDArray[np.float64]:
        return decision_values(base, draft, as_of, risk_config, value_basis=value_basis)

    model = fit_population(
        summaries_at(orders, as_of, value_basis), fitted_at=fitted_at or as_of, tier_quantiles=quantiles,
        previous=previous, rules=rules, data_as_of=as_of, decision_values=ranked,
    )  # fmt: skip
    model.statistics["fit_seconds"] = round(time.perf_counter() - started, 3)
    return model


async def base_facts(
    sessions: async_sessionmaker[AsyncSession], as_of: datetime, page_size: int
) -> list[CustomerFacts]:
    """Every customer known at as_of with their facts up to then, as the read API would assess them."""
    out: list[CustomerFacts] = []
    after: str | None = None
    while True:
        async with sessions() as session:
            states = await repository.list_page(session, CustomerFilter(), after=after, limit=page_size)
            if not states:
                return out
            known = [as_of_state(s, as_of) for s in states if s.first_seen_at is None or s.first_seen_at <= as_of]
            out.extend(await load_facts(SqlFacts(session), known, as_of))
        after = states[-1].customer_id


def same_outcome(new: PopulationModel, current: PopulationModel) -> bool:
    """A prior standing in for the same reason over the same customers: nothing worth storing again."""
    if new.is_fit or current.fitted_at is None:
        return False
    key = (new.basis, new.reason, new.customers_used, new.parameters())
    return key == (current.basis, current.reason, current.customers_used, current.parameters())


async def fit_now(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    holder: ModelHolder,
    *,
    basis: str,
    quantiles: tuple[float, float],
    rules: FitRules,
    config: RiskConfig | None = None,
    as_of: datetime | None = None,
    page_size: int = 20_000,
) -> PopulationModel:
    """Refit over all customers' orders up to as_of (default now), store the result and serve it from then on.

    Below the minimum-data rules or on a degenerate optimum the result is the documented prior
    (basis "prior" with the reason); it is stored unless the same prior already stands. The tier
    cut-offs rank the whole base's decision values at as_of (`fit_at`).
    """
    now = clock.now()
    cut = as_of or now
    async with sessions() as session:
        orders = await facts_repository.all_order_summaries(session, cut)
    customers = await base_facts(sessions, cut, page_size)
    previous = await holder.get(sessions)
    # The optimiser is CPU-bound for seconds: off the event loop, so the API keeps answering.
    model = await asyncio.to_thread(
        fit_at, orders, cut, value_basis=basis, quantiles=quantiles, rules=rules, fitted_at=now, previous=previous,
        customers=customers, config=config,
    )  # fmt: skip
    if same_outcome(model, holder.current):
        return holder.current
    async with sessions.begin() as session:
        await facts_repository.save_model(session, model)
    holder.current = model
    log.info(
        "model_fitted", customers=model.customers_used, basis=model.basis, reason=model.reason,
        log_likelihood=model.log_likelihood, data_as_of=cut.isoformat(),
    )  # fmt: skip
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
        current = self._holder.current
        if current.fitted_at is None:
            return True
        # A prior for lack of data is retried every poll: the data that lifts it may just have arrived.
        return (not current.is_fit and current.reason in DATA_REASONS) or now - current.fitted_at >= self._interval

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.due(self._clock.now()):
                try:
                    await self._fit()
                except Exception as exc:  # the database away: retry next round
                    log.info("model_fit_skipped", reason=str(exc))
            self._wakeup.clear()
            await wait_any(self._wakeup, stop, seconds=self._poll_s)
