"""Composition root: the one place where risk's parts are built and wired."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from winback_risk.adapters.tables import outbox
from winback_risk.entrypoints.http import build_router
from winback_risk.service_layer.handlers import apply_events
from winback_risk.settings import RiskSettings
from winback_shared.db.relay import OutboxRelay
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.topics import Topic
from winback_shared.http.app import create_app
from winback_shared.kafka.consumer import BatchConsumer
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_risk:migrations"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, RiskSettings)
    runtime = ServiceRuntime(settings)
    relay = OutboxRelay(
        service=settings.service_name,
        sessions=runtime.sessions,
        table=outbox,
        publisher=runtime.publisher,
        batch_size=settings.outbox_batch_size,
        poll_interval_s=settings.outbox_poll_interval_s,
    )

    async def handle(events: Sequence[CloudEvent]) -> None:
        result = await apply_events(runtime.sessions, runtime.clock, events, source=settings.event_source)
        if result.status_changes:
            relay.wake()

    consumer = BatchConsumer(
        service=settings.service_name,
        bootstrap=settings.kafka_bootstrap,
        group_id=settings.consumer_group,
        topics=[Topic.EVENTS.value],
        handler=handle,
        dead_letters=runtime.publisher,
        max_records=settings.consumer_max_records,
        max_attempts=settings.consumer_max_attempts,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
    )
    runtime.add_worker("events-consumer", consumer.run)
    runtime.add_worker("outbox-relay", relay.run)
    return create_app(
        runtime,
        [build_router(runtime, settings, lambda: consumer.lag)],
        title="winback risk",
        description="Who is leaving or has left, why, and whether they are worth winning back.",
    )
