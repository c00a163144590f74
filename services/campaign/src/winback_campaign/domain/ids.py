"""Deterministic identifiers: replays and restarts produce the same ids, so nothing runs twice."""

from __future__ import annotations

import uuid

# Fixed forever: changing it would give every existing enrolment and action a new id.
CAMPAIGN_NAMESPACE = uuid.UUID("8b6f7c2e-5d0a-5b1e-9a57-3f1d2c4e6a80")


def enrollment_id_for(customer_id: str, playbook_id: str, trigger_source: str, trigger_id: str) -> str:
    """One enrolment per (customer, playbook, triggering event)."""
    return str(uuid.uuid5(CAMPAIGN_NAMESPACE, f"enrollment:{customer_id}:{playbook_id}:{trigger_source}:{trigger_id}"))


def action_id_for(enrollment_id: str, step_id: str) -> str:
    """One action per (enrolment, step): a restart never sends a step twice."""
    return str(uuid.uuid5(CAMPAIGN_NAMESPACE, f"{enrollment_id}:{step_id}"))
