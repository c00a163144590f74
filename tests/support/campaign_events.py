"""Typed events campaign consumes, as its handler tests send them: a cancellation and the churn it causes."""

from __future__ import annotations

from datetime import UTC, datetime

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ContractCancelled
from winback_shared.events.produced import CustomerStatusChanged

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Berlin: no quiet hours


def cancelled(customer_id: str, at: datetime = T0) -> CloudEvent:
    data = {"customer_id": customer_id, "contract_id": "k1", "reason_code": "price"}
    return ContractCancelled.new(source="/billing", time=at, data=data, id=f"cancel-{customer_id}")


def churned(customer_id: str, at: datetime = T0) -> CustomerStatusChanged:
    """Risk's churn (tier A, price), naming the cancellation it rests on."""
    data = {
        "customer_id": customer_id,
        "from": "active",
        "to": "churned",
        "at": at,
        "churn_reason": "price",
        "value_tier": "A",
        "winback_eligible": True,
        "caused_by": {"source": "/billing", "id": f"cancel-{customer_id}"},
    }
    return CustomerStatusChanged.new(source="/winback/risk", time=at, data=data, id=f"churn-{customer_id}")
