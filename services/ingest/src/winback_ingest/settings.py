"""Ingest configuration (environment prefix WINBACK_)."""

from pydantic import Field

from winback_shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: str = "ingest"
    port: int = 8001
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch_events: int = 1_000
    publish_timeout_s: float = 10.0
    # WINBACK_WORKERS: uvicorn worker processes of one instance. Ingest keeps no state between
    # requests (the de-duplication claim is in PostgreSQL), so each worker validates and publishes
    # on a core of its own: validation, ~30 us of CPU per event, is what limits one process.
    workers: int = Field(1, ge=1, le=64)
