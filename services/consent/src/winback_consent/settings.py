"""Consent configuration (environment prefix WINBACK_); the legal policies have the spec's defaults."""

from winback_shared.settings import ServiceSettings


class ConsentSettings(ServiceSettings):
    service_name: str = "consent"
    port: int = 8004
    # Policies of consent-rules.md, reported by GET /v1/policy.
    staleness_days: int = 730
    exception_after_cancellation: bool = False
    relationship_window_months: int = 24
    max_batch_decisions: int = 1_000
