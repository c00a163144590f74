"""Campaign configuration (environment prefix WINBACK_)."""

from winback_campaign.domain.builtin_playbooks import PlaybookSet
from winback_shared.settings import ServiceSettings


class CampaignSettings(ServiceSettings):
    service_name: str = "campaign"
    port: int = 8003
    consent_url: str = "http://127.0.0.1:8004"
    consent_api_key: str = "dev-admin-key"
    consent_timeout_s: float = 5.0
    # Status changes older than this (against the service clock) are history, not triggers.
    replay_window_days: int = 7
    scheduler_interval_s: float = 0.5
    scheduler_batch_size: int = 200
    # Consent unreachable: retry with exponential backoff up to this pause.
    consent_retry_max_s: float = 15.0
    # How long an e-mail step waits for the customer's address before it is suppressed.
    address_grace_hours: int = 24
    default_language: str = "de"
    sender_name: str = "Winback Demo GmbH"
    sender_address: str = "Musterstrasse 1, 10115 Berlin"
    sender_email: str = "service@example.com"
    # The public unsubscribe endpoint of this service as customers reach it; links carry a MAC.
    opt_out_base_url: str = "http://127.0.0.1:8003/v1/unsubscribe"
    opt_out_secret: str = "dev-opt-out-secret"
    # Policy: at most this many advertising contacts per customer in 7 and in 30 days.
    cap_per_week: int = 1
    cap_per_month: int = 3
    # Which shipped playbooks are the defaults: `immediate` only for demos and end-to-end tests.
    playbook_set: PlaybookSet = "default"
