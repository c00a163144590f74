"""Playbooks a test defines for itself through the campaign API, beside the shipped ones."""

from __future__ import annotations

from typing import Any

import httpx

ADMIN = {"Authorization": "Bearer dev-admin-key"}


def immediate_email(playbook_id: str = "test-immediate-email", *, status: str = "churned") -> dict[str, Any]:
    """One e-mail at once on `status`, nobody held out, above every shipped playbook's priority."""
    return {
        "playbook_id": playbook_id,
        "name": f"Test: one e-mail at once after {status}",
        "priority": 1000,
        "holdout_percent": 0,
        "trigger": {"status": status},
        "steps": [{"step_id": "1", "after": "P0D", "channel": "email", "template": "we_miss_you"}],
    }


async def install(client: httpx.AsyncClient, campaign_url: str, document: dict[str, Any]) -> None:
    """PUT the playbook (an ops or admin key); it is in force for the next batch campaign applies."""
    r = await client.put(f"{campaign_url}/v1/playbooks/{document['playbook_id']}", json=document, headers=ADMIN)
    assert r.status_code == 200, r.text
