"""Composition root: the one place where ingest's parts are built and wired."""

from __future__ import annotations

import gc
from collections.abc import Sequence

from aiokafka import ConsumerRecord
from fastapi import FastAPI

from winback_ingest.adapters.publisher import AbandoningPublisher
from winback_ingest.contract import CONTRACT
from winback_ingest.entrypoints.http import build_router
from winback_ingest.service_layer.inbound import forward_inbound
from winback_ingest.settings import IngestSettings
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_ingest:migrations"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, IngestSettings)
    runtime = ServiceRuntime(settings)
    # Before anything captures it: every publish of ingest must be all-or-nothing (see the class).
    runtime.publisher = AbandoningPublisher(
        settings.kafka_bootstrap, request_timeout_ms=int(settings.publish_timeout_s * 1000)
    )

    async def on_inbound(records: Sequence[ConsumerRecord]) -> None:
        await forward_inbound(
            runtime.sessions,
            runtime.publisher,
            records,
            publish_timeout_s=settings.publish_timeout_s,
            not_after=runtime.clock.now() + settings.max_future_skew,
        )

    runtime.add_consumer(group_id=CONTRACT.group, topics=CONTRACT.consumed_topics, record_handler=on_inbound)
    # Validating a 1,000-event batch allocates hundreds of thousands of objects; with the
    # default thresholds the collector rescans the long-lived start-up heap again and again.
    # Freezing that heap and collecting young objects less often: see bench/ingest/README.md.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return create_app(
        runtime,
        [build_router(runtime, settings)],
        title="winback ingest",
        description="The front door for events from shops, CRMs, billing and ticketing systems.",
    )
