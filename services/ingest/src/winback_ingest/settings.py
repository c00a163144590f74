"""Ingest configuration (environment prefix WINBACK_)."""

from winback_shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: str = "ingest"
    port: int = 8001
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch_events: int = 1_000
    publish_timeout_s: float = 10.0
