"""Composition root: the one place where risk's parts are built and wired."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI

from winback_risk.adapters.tables import outbox
from winback_risk.adapters.unit_of_work import SqlUnitOfWork
from winback_risk.domain.model.population import PopulationModel
from winback_risk.entrypoints.consumer import add_event_consumers, scoring_of, tune_gc
from winback_risk.entrypoints.http import build_router
from winback_risk.entrypoints.http_console import build_console_router
from winback_risk.service_layer.assessor import Assessor, assess_all
from winback_risk.service_layer.model_service import ModelHolder, Refitter, fit_now
from winback_risk.settings import RiskSettings
from winback_shared.consumer_processes import ConsumerProcesses
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_risk:migrations"
# Entry point of the instance's extra consumer processes (it imports the consumer wiring, not this module).
CONSUMER_PROCESS = "winback_risk.entrypoints.consumer_process:run"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, RiskSettings)
    runtime = ServiceRuntime(settings)
    relay = runtime.add_outbox_relay(outbox)

    holder = ModelHolder(refresh_s=settings.model_poll_s)
    scoring = scoring_of(runtime, settings, holder)

    async def fit(as_of: datetime | None = None) -> PopulationModel:
        model = await fit_now(
            runtime.sessions, runtime.clock, holder, basis=settings.clv_basis,
            quantiles=settings.value_tier_quantiles, rules=settings.fit_rules(), config=settings.risk_config(),
            as_of=as_of, page_size=settings.assess_page_size,
        )  # fmt: skip
        assessor.wake()
        return model

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(runtime.sessions, settings.erasure_hash_key)

    async def assess(now: datetime) -> int:
        return await assess_all(
            uow(), now, await scoring(), source=settings.event_source,
            page_size=settings.assess_page_size, on_published=relay.wake,
        )  # fmt: skip

    consumers = add_event_consumers(runtime, settings, scoring, relay.wake)
    # More processes of this instance consuming the same group: the fold and scoring are Python
    # and one process uses one core (bench/risk/README.md, round 4). They only consume; the
    # relay here publishes what they put in the outbox.
    processes: ConsumerProcesses | None = None
    if settings.consumer_processes > 1:
        processes = ConsumerProcesses("risk-consumer", settings.consumer_processes - 1, CONSUMER_PROCESS)
        runtime.add_worker("consumer-processes", processes.run)

    def lag() -> int | None:
        """Records behind over every consumer of the instance; None until each has measured its partitions."""
        lags = [c.lag for c in consumers] + ([processes.lag()] if processes is not None else [])
        return None if None in lags else sum(lag for lag in lags if lag is not None)

    assessor = Assessor(assess, runtime.clock, settings.assess_interval_s, caught_up=lambda: lag() == 0)
    refitter = Refitter(fit, runtime.clock, holder, settings.model_refit_interval_s, poll_s=settings.model_poll_s)
    runtime.add_worker("assessor", assessor.run)
    runtime.add_worker("model-refitter", refitter.run)
    runtime.on_clock_moved(assessor.wake)
    runtime.on_clock_moved(refitter.wake)
    tune_gc()
    console = build_console_router(runtime, scoring, default_horizon_days=settings.default_horizon_days)
    return create_app(
        runtime,
        [build_router(runtime, settings, lag, scoring, fit), console],
        title="winback risk",
        description="Who is leaving or has left, why, and whether they are worth winning back.",
    )
