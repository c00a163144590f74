"""Console configuration (environment prefix WINBACK_): where the services are, how sessions are signed."""

from __future__ import annotations

from pydantic import Field, model_validator

from winback_shared.settings import ConfigurationError, ServiceSettings

# Public: development and tests only; a deployment sets its own WINBACK_CONSOLE_SECRET.
DEV_CONSOLE_SECRET = "winback-dev-console-secret"


class ConsoleSettings(ServiceSettings):
    service_name: str = "console"
    port: int = 8006
    # The five services the pages are made from (WINBACK_<NAME>_URL).
    ingest_url: str = "http://127.0.0.1:8001"
    risk_url: str = "http://127.0.0.1:8002"
    campaign_url: str = "http://127.0.0.1:8003"
    consent_url: str = "http://127.0.0.1:8004"
    metrics_url: str = "http://127.0.0.1:8005"
    # Where the browser finds the metrics dashboard (/results links to it); unset: metrics_url.
    metrics_public_url: str | None = None
    # WINBACK_CONSOLE_SECRET signs the session cookie (which holds the user's API key): whoever
    # knows it can forge a session, so production refuses the public default.
    console_secret: str = DEV_CONSOLE_SECRET
    # A signed-in session lasts this long without a new sign-in.
    session_max_age_s: int = Field(8 * 3600, ge=60)
    # Browsers send the cookie over HTTPS only (WINBACK_SECURE_COOKIES); unset: on in production,
    # off for the plain-HTTP development stack.
    secure_cookies: bool | None = None
    # The zone dates and times are shown in (named on the page).
    display_time_zone: str = "Europe/Berlin"
    # How long the console waits for a service before telling the user it is unavailable.
    service_timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _secret_in_production(self) -> ConsoleSettings:
        if self.is_production and (self.console_secret == DEV_CONSOLE_SECRET or len(self.console_secret) < 32):
            raise ConfigurationError(
                "WINBACK_CONSOLE_SECRET must be set to a secret of at least 32 characters in production"
            )
        return self

    @property
    def https_only_cookies(self) -> bool:
        return self.is_production if self.secure_cookies is None else self.secure_cookies

    def service_urls(self) -> dict[str, str]:
        return {
            "ingest": self.ingest_url,
            "risk": self.risk_url,
            "campaign": self.campaign_url,
            "consent": self.consent_url,
            "metrics": self.metrics_url,
        }
