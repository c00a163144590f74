"""Metrics configuration (environment prefix WINBACK_)."""

from decimal import Decimal

from winback_shared.settings import PersonalDataSettings


class MetricsSettings(PersonalDataSettings):
    service_name: str = "metrics"
    port: int = 8005
    # EUR per triggered action; WINBACK_CHANNEL_COSTS='{"email": "0.05", ...}' overrides.
    channel_costs: dict[str, Decimal] = {
        "email": Decimal("0.05"),
        "sms": Decimal("0.10"),
        "post": Decimal("1.20"),
        "phone": Decimal("8.00"),
    }
    # Channels without a configured price (messenger, fax, automated_call) cost this.
    default_channel_cost: Decimal = Decimal("0.00")
    # Orders without a margin count this share of their amount as margin for `roi` (1 = revenue basis).
    margin_share_when_missing: Decimal = Decimal("1")
