"""Composition root: the one place where ingest's parts are built and wired."""

from __future__ import annotations

from fastapi import FastAPI

from winback_ingest.entrypoints.http import build_router
from winback_ingest.settings import IngestSettings
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_ingest:migrations"


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, IngestSettings)
    runtime = ServiceRuntime(settings)
    return create_app(
        runtime,
        [build_router(runtime, settings)],
        title="winback ingest",
        description="The front door for events from shops, CRMs, billing and ticketing systems.",
    )
