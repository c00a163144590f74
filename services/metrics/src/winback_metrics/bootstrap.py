"""Composition root: the one place where metrics' parts are built and wired."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from winback_metrics.contract import CONTRACT
from winback_metrics.entrypoints.http import build_dashboard_router, build_router
from winback_metrics.service_layer.handlers import apply_batch
from winback_metrics.settings import MetricsSettings
from winback_shared.events.envelope import CloudEvent
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_metrics:migrations"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, MetricsSettings)
    runtime = ServiceRuntime(settings)
    apply = partial(
        apply_batch,
        runtime.sessions,
        channel_costs=settings.channel_costs,
        default_cost=settings.default_channel_cost,
        margin_share=settings.margin_share_when_missing,
        contract_margin_rate=settings.contract_margin_rate,
        erasure_key=settings.erasure_hash_key,
    )

    async def handle(events: Sequence[CloudEvent]) -> None:
        await apply(events)

    # Metrics acts on a few of the types on its topics (not usage, tickets or consent changes) and is
    # never asked whether it applied an event: the rest are skipped before they are decoded.
    runtime.add_consumer(
        group_id=CONTRACT.group, topics=CONTRACT.consumed_topics, handler=handle, only_types=CONTRACT.consumed_types
    )
    return create_app(
        runtime,
        [build_router(runtime), build_dashboard_router()],
        title="winback metrics",
        description="Did win-back pay, and what did we learn: KPIs computed from event times.",
    )
