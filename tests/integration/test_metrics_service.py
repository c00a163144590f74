"""The metrics service as a process against the real broker and database: events in, KPIs out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import (
    ActionSuppressed,
    ActionTriggered,
    CampaignEnrolled,
    CampaignExited,
    CustomerStatusChanged,
)
from winback_shared.events.topics import Topic
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

pytestmark = pytest.mark.integration

T0 = datetime(2024, 1, 10, 9, tzinfo=UTC)
OPS = {"Authorization": "Bearer dev-admin-key"}


def _status(customer: str, to: str, at: datetime, reason: str | None = None) -> CustomerStatusChanged:
    data = {"customer_id": customer, "from": "churned" if to == "won_back" else "lapsed", "to": to, "at": at}
    return CustomerStatusChanged.new(source="/risk", time=at, data={**data, "churn_reason": reason})


def _triggered(action: str, customer: str, channel: str, at: datetime) -> ActionTriggered:
    data = {
        "action_id": action,
        "customer_id": customer,
        "channel": channel,
        "template": f"{channel}-1",
        "variant": "A",
        "playbook_id": "pb-price",
        "enrollment_id": f"en-{customer}",
    }
    return ActionTriggered.new(source="/campaign", time=at, data=data)


def _suppressed(action: str, customer: str, reason: str, at: datetime) -> ActionSuppressed:
    data = {
        "action_id": action,
        "customer_id": customer,
        "channel": "email",
        "reason": reason,
        "playbook_id": "pb-price",
        "enrollment_id": f"en-{customer}",
    }
    return ActionSuppressed.new(source="/campaign", time=at, data=data)


async def _publish(bootstrap: str, topic: Topic, events: list[CloudEvent]) -> None:
    publisher = EventPublisher(bootstrap)
    try:
        await publisher.publish([OutgoingRecord.of(topic.value, e) for e in events])
    finally:
        await publisher.close()


async def _kpis(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/v1/kpis", params=params, headers=OPS)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_kpis_count_churn_returns_and_actions_once(metrics: str, kafka_bootstrap: str) -> None:
    day = timedelta(days=1)
    email = _triggered("a1", "c1", "email", T0 + day)
    await _publish(
        kafka_bootstrap,
        Topic.RISK,
        [
            _status("c1", "churned", T0, "price"),
            _status("c2", "churned", T0 + day, "price"),
            _status("c3", "churned", T0 + 2 * day, "service"),
            _status("c1", "won_back", T0 + 15 * day),
        ],
    )
    await _publish(
        kafka_bootstrap,
        Topic.ACTIONS,
        [
            email,
            _triggered("a2", "c1", "sms", T0 + 2 * day),
            _suppressed("a3", "c2", "no_consent", T0 + 2 * day),
            _triggered("a4", "c3", "phone", T0 + 3 * day),
            # After c1's return: not win-back effort of this churn.
            _triggered("a5", "c1", "email", T0 + 20 * day),
        ],
    )
    enrollment = {"customer_id": "c2", "playbook_id": "pb-other", "enrollment_id": "en-other", "variant": "B"}
    await _publish(
        kafka_bootstrap,
        Topic.CAMPAIGN,
        [
            CampaignEnrolled.new(source="/campaign", time=T0 + 2 * day, data=enrollment),
            CampaignExited.new(source="/campaign", time=T0 + 9 * day, data={**enrollment, "reason": "objection"}),
        ],
    )
    # The same event again, then a marker behind it on the same partition (key c1).
    await _publish(kafka_bootstrap, Topic.ACTIONS, [email, _suppressed("a6", "c1", "frequency_cap", T0 + 4 * day)])

    async with httpx.AsyncClient(base_url=metrics, timeout=10) as client:
        for _ in range(200):
            answer = await _kpis(client)
            other = await _kpis(client, playbook_id="pb-other")
            if answer["actions"]["suppressed"] == 2 and answer["won_back"] == 1 and other["churned"] == 1:
                break
            await asyncio.sleep(0.1)

        assert answer["churned"] == 3
        assert answer["won_back"] == 1
        assert answer["winback_rate"] == pytest.approx(1 / 3, abs=1e-6)
        assert answer["actions"] == {
            "triggered": 3,
            "suppressed": 2,
            "suppressed_by_reason": {"frequency_cap": 1, "no_consent": 1},
        }
        assert answer["cost_total"] == "8.15"  # e-mail 0.05 + SMS 0.10 + phone 8.00, the duplicate once
        assert answer["cost_per_winback"] == "8.15"
        assert answer["days_to_winback"] == {"mean": 15.0, "median": 15.0}
        assert answer["lost_revenue"] == "0.00"
        assert answer["from"] is None and answer["to"] is None

        # Enrolled in pb-other without any action of it: in that playbook's cohort, at no cost.
        assert (other["churned"], other["actions"]["triggered"], other["cost_total"]) == (1, 0, "0.00")

        sms = await _kpis(client, channel="sms")
        assert (sms["churned"], sms["won_back"], sms["cost_total"]) == (1, 1, "0.10")
        assert sms["actions"]["triggered"] == 1

        cohort = await _kpis(client, **{"from": "2024-01-11", "to": "2024-01-31"})
        assert (cohort["churned"], cohort["won_back"], cohort["winback_rate"]) == (2, 0, 0.0)
        assert cohort["cost_per_winback"] is None
        assert cohort["from"] == "2024-01-11"

        empty = await _kpis(client, **{"from": "2024-02-01T00:00:00Z"})
        assert (empty["churned"], empty["winback_rate"]) == (0, None)
        assert empty["days_to_winback"] == {"mean": None, "median": None}


async def test_kpis_refuse_bad_input_and_missing_keys(metrics: str) -> None:
    async with httpx.AsyncClient(base_url=metrics, timeout=10) as client:
        bad = await client.get("/v1/kpis", params={"from": "last tuesday"}, headers=OPS)
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "from" in bad.json()["detail"]
        backwards = await client.get("/v1/kpis", params={"from": "2024-02-01", "to": "2024-01-01"}, headers=OPS)
        assert backwards.status_code == 422
        assert (await client.get("/v1/kpis")).status_code == 401
        ingest_only = await client.get("/v1/kpis", headers={"Authorization": "Bearer dev-ingest-key"})
        assert ingest_only.status_code == 403
