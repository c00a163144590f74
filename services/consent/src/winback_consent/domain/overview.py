"""The current state per channel, as GET /v1/customers/{id}/consents reports it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from winback_consent.domain.decisions import decide
from winback_consent.domain.model import CHANNELS, CustomerSnapshot, DecisionRequest, Policy
from winback_consent.domain.state import channel_state


def channel_overview(
    snapshot: CustomerSnapshot, policy: Policy, at: datetime, purpose: str = "marketing"
) -> list[dict[str, Any]]:
    """Per channel: would advertising be allowed now, on which basis, and until when (staleness)."""
    result = []
    for channel in CHANNELS:
        decision = decide(snapshot, DecisionRequest(snapshot.customer_id, channel, at, purpose), policy)
        state = channel_state(snapshot, channel, purpose, at)
        grants = [g for g in state.express if g.id in decision.evidence_ids]
        expires = max((state.expires_at(g, policy) for g in grants), default=None)
        result.append(
            {
                "channel": channel,
                "allowed": decision.allowed,
                "basis": decision.basis,
                "reason": decision.reason,
                "evidence_ids": list(decision.evidence_ids),
                "expires_at": expires.isoformat() if expires else None,
            }
        )
    return result
