"""Risk configuration (environment prefix WINBACK_)."""

from winback_shared.settings import ServiceSettings


class RiskSettings(ServiceSettings):
    service_name: str = "risk"
    port: int = 8002
    consumer_group: str = "winback-risk"
    event_source: str = "/winback/risk"
    default_horizon_days: int = 90
