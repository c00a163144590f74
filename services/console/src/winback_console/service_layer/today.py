"""The /today page's data and the outcome of a call or letter."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

from winback_console.adapters.services import ServiceGateway
from winback_console.domain.today import TaskGroup, group_tasks
from winback_console.service_layer.gather import bounded, optional

TASK_LIMIT = 500
# risk answers up to 100 customers per GET /v1/customers:batch.
RISK_BATCH = 100


async def todays_work(gateway: ServiceGateway, key: str) -> list[TaskGroup]:
    """Open call tasks and letters due now, with the customer's value and the consent evidence."""
    answer = await gateway.get("campaign", "/v1/tasks", key=key, params={"status": "open", "limit": TASK_LIMIT})
    tasks: list[dict[str, Any]] = answer["items"]
    ids = sorted({t["customer_id"] for t in tasks})
    chunks = [ids[i : i + RISK_BATCH] for i in range(0, len(ids), RISK_BATCH)]
    answers: list[Any] = await bounded(
        [partial(gateway.get, "risk", "/v1/customers:batch", key=key, params={"customer_id": c}) for c in chunks]
    )
    profiles: dict[str, Any] = {item["customer_id"]: item for answer in answers for item in answer["items"]}
    # The evidence behind a task's consent ids is in consent's ledger, one customer per call.
    consents: list[Any] = await bounded(
        [partial(optional, gateway, "consent", f"/v1/customers/{quote(c, safe='')}/consents", key=key) for c in ids]
    )
    return group_tasks(tasks, profiles, dict(zip(ids, consents, strict=True)))


async def record_outcome(gateway: ServiceGateway, key: str, action_id: str, outcome: str, note: str) -> dict[str, Any]:
    """Campaign records the outcome and sends the matching events (consent, risk, metrics act on them)."""
    body: dict[str, Any] = {"outcome": outcome}
    if note:
        body["note"] = note
    answer: dict[str, Any] = await gateway.call(
        "campaign", "POST", f"/v1/actions/{quote(action_id, safe='')}/outcome", key=key, json=body
    )
    return answer
