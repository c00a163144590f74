"""Building valid events for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def event(
    type_: str, data: dict[str, Any], *, source: str = "/test/crm", time: datetime | None = None, id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": (time or datetime.now(UTC)).isoformat(),
        "data": data,
    }


def cancellation(customer_id: str, **data: Any) -> dict[str, Any]:
    return event(
        "contract.cancelled",
        {"customer_id": customer_id, "contract_id": f"{customer_id}-k1", **data},
        source="/test/billing",
    )


def doi_consent(customer_id: str) -> dict[str, Any]:
    return event(
        "consent.granted",
        {
            "customer_id": customer_id,
            "channel": "email",
            "kind": "express",
            "method": "double_opt_in",
            "evidence": {"confirmed_at": datetime.now(UTC).isoformat(), "text_version": "v1"},
        },
    )


def profile(customer_id: str, **data: Any) -> dict[str, Any]:
    return event(
        "customer.upserted",
        {
            "customer_id": customer_id,
            "name": "Test Kunde",
            "email": f"{customer_id}@example.org",
            "language": "de",
            **data,
        },
    )


def objection(customer_id: str, channels: list[str] | None = None) -> dict[str, Any]:
    return event("contact.objected", {"customer_id": customer_id, "channels": channels or ["all"], "note": "test"})
