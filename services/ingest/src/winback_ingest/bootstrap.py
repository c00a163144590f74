"""Composition root: the one place where ingest's parts are built and wired."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord
from fastapi import FastAPI

from winback_ingest.entrypoints.http import build_router
from winback_ingest.service_layer.inbound import forward_inbound
from winback_ingest.settings import IngestSettings
from winback_shared.events.topics import Topic
from winback_shared.http.app import create_app
from winback_shared.kafka.consumer import BatchConsumer
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_ingest:migrations"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, IngestSettings)
    runtime = ServiceRuntime(settings)

    async def on_inbound(records: Sequence[ConsumerRecord]) -> None:
        await forward_inbound(
            runtime.sessions, runtime.publisher, records, publish_timeout_s=settings.publish_timeout_s
        )

    inbound = BatchConsumer(
        service=settings.service_name,
        bootstrap=settings.kafka_bootstrap,
        group_id="winback-ingest",
        topics=[Topic.INBOUND.value],
        record_handler=on_inbound,
        dead_letters=runtime.publisher,
        max_records=settings.consumer_max_records,
        max_attempts=settings.consumer_max_attempts,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
    )
    runtime.add_worker("inbound-consumer", inbound.run)
    return create_app(
        runtime,
        [build_router(runtime, settings)],
        title="winback ingest",
        description="The front door for events from shops, CRMs, billing and ticketing systems.",
    )
