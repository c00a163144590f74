"""Risk's batches can reach their configured size: one partition fetch holds them."""

from __future__ import annotations

from datetime import UTC, datetime

from winback_risk.settings import RiskSettings
from winback_shared.events.inbound import OrderPlaced

# What a record costs in a fetch besides its value: key, headers, the record batch's framing.
RECORD_OVERHEAD_BYTES = 100


def test_a_partition_fetch_holds_a_full_batch_of_order_events() -> None:
    settings = RiskSettings()
    order = OrderPlaced.new(
        source="/shop/checkout",
        time=datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        data={"customer_id": "customer-0001234", "order_id": "order-000123456", "amount": "1234.56", "margin": "34.5"},
    )
    record = len(order.to_json_bytes()) + RECORD_OVERHEAD_BYTES
    assert settings.consumer_max_records * record <= settings.consumer_max_partition_fetch_bytes
