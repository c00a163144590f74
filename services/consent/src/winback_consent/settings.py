"""Consent configuration (environment prefix WINBACK_); the legal policies have the spec's defaults."""

from pydantic import Field, model_validator

from winback_shared.settings import ConfigurationError, PersonalDataSettings

# Public, so only for development and tests: production must bring its own key.
DEV_HASH_KEY = "winback-dev-consent-hash-key"


class ConsentSettings(PersonalDataSettings):
    service_name: str = "consent"
    port: int = 8004
    # Policies of consent-rules.md, reported by GET /v1/policy.
    staleness_days: int = 730
    exception_after_cancellation: bool = False
    relationship_window_months: int = 24
    max_batch_decisions: int = 1_000
    # WINBACK_WORKERS: uvicorn worker processes of one instance (each also runs the consumer and relay).
    workers: int = Field(1, ge=1, le=64)
    # Parsed decision snapshots kept per process, by their exact text (0 = none). Saves ~20 us of
    # parsing per decision, but every cached object is scanned by the collector's full collections.
    snapshot_cache_size: int = Field(0, ge=0)
    # WINBACK_CONSENT_HASH_KEY: the HMAC key of the suppression list's hashes.
    consent_hash_key: str = DEV_HASH_KEY
    max_suppressions_per_request: int = 10_000
    doi_ttl_hours: int = 72
    doi_text_version: str = "doi-email-v1"
    # Where the confirmation link points (a page that posts the token to /v1/double-opt-in/confirm).
    doi_confirm_url: str = "https://winback.example/double-opt-in/confirm?token={token}"

    @model_validator(mode="after")
    def _hash_key_in_production(self) -> "ConsentSettings":
        if self.is_production and (self.consent_hash_key == DEV_HASH_KEY or len(self.consent_hash_key) < 16):
            raise ConfigurationError(
                "WINBACK_CONSENT_HASH_KEY must be set to a secret of at least 16 characters in production"
            )
        if "{token}" not in self.doi_confirm_url:
            raise ConfigurationError("WINBACK_DOI_CONFIRM_URL must contain '{token}'")
        return self

    @property
    def hash_key(self) -> bytes:
        return self.consent_hash_key.encode()
