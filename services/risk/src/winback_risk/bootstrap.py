"""Composition root: the one place where risk's parts are built and wired."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from datetime import datetime

from fastapi import FastAPI

from winback_risk.adapters.tables import outbox
from winback_risk.domain.model.population import PopulationModel
from winback_risk.entrypoints.http import build_router
from winback_risk.service_layer.assessor import Assessor, assess_all
from winback_risk.service_layer.handlers import Scoring, apply_events
from winback_risk.service_layer.model_service import ModelHolder, Refitter, fit_now
from winback_risk.settings import RiskSettings
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.topics import Topic
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_risk:migrations"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, RiskSettings)
    runtime = ServiceRuntime(settings)
    relay = runtime.add_outbox_relay(outbox)

    holder = ModelHolder()
    config = settings.risk_config()

    async def scoring() -> Scoring:
        model = await holder.get(runtime.sessions)
        return Scoring(model, config, settings.default_horizon_days, settings.clv_basis)

    async def handle(events: Sequence[CloudEvent]) -> None:
        result = await apply_events(
            runtime.sessions, runtime.clock, events, source=settings.event_source, scoring=await scoring()
        )
        if result.published:
            relay.wake()

    async def fit() -> PopulationModel:
        model = await fit_now(
            runtime.sessions, runtime.clock, holder, basis=settings.clv_basis, quantiles=settings.value_tier_quantiles
        )
        assessor.wake()
        return model

    async def assess(now: datetime) -> int:
        return await assess_all(
            runtime.sessions, now, await scoring(), source=settings.event_source,
            page_size=settings.assess_page_size, on_published=relay.wake,
        )  # fmt: skip

    # Several consumers in one group split the partitions: while one waits for the database,
    # another folds and scores its batch (bench/risk/README.md, round 3). Their customers never
    # overlap, events are keyed by customer.
    consumers = [
        runtime.add_consumer(group_id=settings.consumer_group, topics=[Topic.EVENTS.value], handler=handle)
        for _ in range(settings.consumer_tasks)
    ]

    def lag() -> int | None:
        """Records behind over every consumer; None until each has measured its partitions."""
        lags = [c.lag for c in consumers]
        return None if None in lags else sum(lag for lag in lags if lag is not None)

    assessor = Assessor(assess, runtime.clock, settings.assess_interval_s, caught_up=lambda: lag() == 0)
    refitter = Refitter(fit, runtime.clock, holder, settings.model_refit_interval_s, poll_s=settings.model_poll_s)
    runtime.add_worker("assessor", assessor.run)
    runtime.add_worker("model-refitter", refitter.run)
    runtime.on_clock_moved(assessor.wake)
    runtime.on_clock_moved(refitter.wake)
    # A batch allocates hundreds of thousands of short-lived objects; with the default
    # thresholds the collector rescans the long-lived start-up heap again and again, which
    # halved consumption throughput (bench/risk/README.md). Same remedy as ingest.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return create_app(
        runtime,
        [build_router(runtime, settings, lag, scoring, fit)],
        title="winback risk",
        description="Who is leaving or has left, why, and whether they are worth winning back.",
    )
