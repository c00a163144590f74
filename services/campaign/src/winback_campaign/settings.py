"""Campaign configuration (environment prefix WINBACK_)."""

from urllib.parse import urlsplit

from pydantic import Field, model_validator

from winback_campaign.domain.actions import ADDRESS_FIELD
from winback_shared.settings import ConfigurationError, PersonalDataSettings

# Public, so only for development and tests: production must bring its own secret.
DEV_OPT_OUT_SECRET = "dev-opt-out-secret"
DEV_WEBHOOK_SECRET = "winback-dev-webhook-secret"


class CampaignSettings(PersonalDataSettings):
    service_name: str = "campaign"
    port: int = 8003
    consent_url: str = "http://127.0.0.1:8004"
    consent_api_key: str = "dev-admin-key"
    consent_timeout_s: float = 5.0
    # Status changes older than this (against the service clock) are history, not triggers.
    replay_window_days: int = 7
    scheduler_interval_s: float = 0.5
    scheduler_batch_size: int = 200
    # Rounds in flight at once: the next round's consent call overlaps this round's writes.
    scheduler_pipeline_depth: int = Field(2, ge=1, le=8)
    # Consent unreachable: retry with exponential backoff up to this pause.
    consent_retry_max_s: float = 15.0
    # How long an e-mail step waits for the customer's address before it is suppressed.
    address_grace_hours: int = 24
    # A step whose cause is not applied yet (here or at consent) is asked again after
    # base x 2^waits seconds, at most the maximum: kept pending, never settled on stale state.
    cause_wait_backoff_s: float = 1.0
    cause_wait_backoff_max_s: float = 5.0
    # A status change waits for the event it names (`caused_by`) to be applied here at most this
    # long (service clock), then enrols on what campaign knows, as before.
    cause_wait_grace_hours: int = 24
    default_language: str = "de"
    sender_name: str = "Winback Demo GmbH"
    sender_address: str = "Musterstrasse 1, 10115 Berlin"
    sender_email: str = "service@example.com"
    # The public unsubscribe endpoint of this service as customers reach it; links carry a MAC.
    opt_out_base_url: str = "http://127.0.0.1:8003/v1/unsubscribe"
    opt_out_secret: str = DEV_OPT_OUT_SECRET
    # Policy: at most this many advertising contacts per customer in 7 and in 30 days.
    cap_per_week: int = 1
    cap_per_month: int = 3
    # WINBACK_WEBHOOKS='{"email": "https://...", "sms": "https://..."}': each triggered action of a
    # channel is also POSTed there, signed with WINBACK_WEBHOOK_SECRET (X-Winback-Signature).
    webhooks: dict[str, str] = Field(default_factory=dict)
    webhook_secret: str = DEV_WEBHOOK_SECRET
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_max_attempts: int = Field(8, ge=1)
    # Exponential backoff between attempts: first pause, then doubled, never longer than the maximum.
    webhook_backoff_s: float = Field(2.0, gt=0)
    webhook_backoff_max_s: float = Field(600.0, gt=0)
    webhook_batch_size: int = Field(50, ge=1, le=1000)

    @model_validator(mode="after")
    def _webhooks(self) -> "CampaignSettings":
        for channel, url in self.webhooks.items():
            if channel not in ADDRESS_FIELD:
                known = ", ".join(sorted(ADDRESS_FIELD))
                raise ConfigurationError(f"WINBACK_WEBHOOKS: unknown channel {channel!r} (one of {known})")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigurationError(f"WINBACK_WEBHOOKS: the {channel} URL is not an http(s) URL")
        if self.is_production and (self.opt_out_secret == DEV_OPT_OUT_SECRET or len(self.opt_out_secret) < 16):
            # A known key would let anyone forge opt-out links and unsubscribe other customers.
            raise ConfigurationError("WINBACK_OPT_OUT_SECRET must be a secret of at least 16 characters in production")
        weak = self.webhook_secret == DEV_WEBHOOK_SECRET or len(self.webhook_secret) < 16
        if self.is_production and self.webhooks and weak:
            raise ConfigurationError(
                "WINBACK_WEBHOOK_SECRET must be set to a secret of at least 16 characters in production"
            )
        return self
