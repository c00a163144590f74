"""Metrics configuration (environment prefix WINBACK_)."""

from decimal import Decimal

from pydantic import Field

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
    # Share of a contract payment counted as margin (contract events carry no cost); the same
    # WINBACK_CONTRACT_MARGIN_RATE risk reads, so one setting serves both.
    contract_margin_rate: Decimal = Field(Decimal(1), ge=0, le=1)
