"""Configuration from the environment (prefix WINBACK_), one Settings object per service."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["ingest", "ops", "admin"]
ROLES: frozenset[str] = frozenset({"ingest", "ops", "admin"})
DEV_API_KEYS: dict[str, Role] = {"dev-admin-key": "admin", "dev-ingest-key": "ingest"}
# Public: development and tests only; a deployment sets its own WINBACK_ERASURE_KEY (deploy/README.md).
DEV_ERASURE_KEY = "winback-dev-erasure-key"


class ConfigurationError(ValueError):
    """The environment describes a configuration the service refuses to run with."""


def parse_api_keys(raw: str) -> dict[str, Role]:
    """Parse `key:role,key:role`; an empty key, a missing or unknown role or a repeated key is refused."""
    keys: dict[str, Role] = {}
    for position, entry in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not entry:
            continue
        key, sep, role = (part.strip() for part in entry.rpartition(":"))
        # The message names the entry by position and role only: keys are secrets and end up in logs.
        if not sep or not key or role not in ROLES:
            shown = f" (role {role!r})" if sep else ""
            raise ConfigurationError(
                f"WINBACK_API_KEYS entry {position}{shown} is not 'key:role' with role ingest, ops or admin"
            )
        if key in keys:
            raise ConfigurationError(f"WINBACK_API_KEYS entry {position} repeats a key given before")
        keys[key] = role  # type: ignore[assignment]  # checked against ROLES above
    return keys


class ServiceSettings(BaseSettings):
    """Settings every service shares; a service subclasses it to add its own."""

    # Errors must not echo the input: it holds the API keys and the database password.
    model_config = SettingsConfigDict(env_prefix="WINBACK_", extra="ignore", hide_input_in_errors=True)

    service_name: str = "winback"
    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/winback"
    db_pool_size: int = 10
    api_keys: str | None = None
    consumer_max_records: int = 500
    # Bytes one fetch brings per partition (aiokafka's default, 1 MiB). It caps a poll too: at a few
    # hundred bytes per event, 1 MiB holds about 3,500 records whatever `consumer_max_records` says.
    consumer_max_partition_fetch_bytes: int = Field(1_048_576, ge=1)
    consumer_max_attempts: int = 5
    # Attempts on database or broker errors before a record is split off and parked: at 0.2 s
    # doubling to 5 s between them, 60 attempts wait out an outage of about five minutes.
    consumer_max_transient_attempts: int = Field(default=60, ge=1)
    consumer_session_timeout_ms: int = 10_000
    consumer_heartbeat_interval_ms: int = 3_000
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 0.2
    # How far an event's `time` may lie ahead of the receiving service's clock (clock skew between
    # systems); later ones are refused, or one bad event would move every "latest event" watermark.
    max_future_skew_s: float = Field(86_400.0, ge=0)
    # What a 503 for an outage of a dependency (database, broker, peer service) tells clients to wait.
    retry_after_s: int = Field(5, ge=1)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        # Accept the plain libpq form people paste; the services speak asyncpg.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @model_validator(mode="after")
    def _keys_required_in_production(self) -> ServiceSettings:
        keys = parse_api_keys(self.api_keys) if self.api_keys is not None else {}
        if self.env != "production":
            return self
        if not keys:
            raise ConfigurationError("WINBACK_API_KEYS must be set when WINBACK_ENV=production")
        if DEV_API_KEYS.keys() & keys.keys():
            raise ConfigurationError("WINBACK_API_KEYS must not contain the public dev keys in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_s)

    def api_key_roles(self) -> dict[str, Role]:
        if self.api_keys is None:
            return dict(DEV_API_KEYS)
        return parse_api_keys(self.api_keys)


class PersonalDataSettings(ServiceSettings):
    """Settings of a service that holds personal data and applies `customer.erased` (all but ingest)."""

    # WINBACK_ERASURE_KEY: HMAC key of the erased customers' tombstones (winback_shared.erasure).
    # Changing it forgets who was erased: a replay could then restore them.
    erasure_key: str = DEV_ERASURE_KEY

    @model_validator(mode="after")
    def _erasure_key_in_production(self) -> PersonalDataSettings:
        # A public key would let anyone holding a list of ids tell who was erased.
        if self.is_production and (self.erasure_key == DEV_ERASURE_KEY or len(self.erasure_key) < 16):
            raise ConfigurationError(
                "WINBACK_ERASURE_KEY must be set to a secret of at least 16 characters in production"
            )
        return self

    @property
    def erasure_hash_key(self) -> bytes:
        return self.erasure_key.encode()
