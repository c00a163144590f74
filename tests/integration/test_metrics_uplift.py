"""`uplift` served as the intent-to-treat effect, from events through the real broker and PostgreSQL.

Q4 2024, playbooks pb-x and pb-y. Each customer churns, is enrolled a day later, and:
- t-0..t-5: pb-x, not held out, e-mailed (consent); t-0..t-2 come back.
- s-0..s-3: pb-x, not held out, every action suppressed (no consent); s-0..s-2 come back on their own.
- h-0..h-4: held out of pb-x; h-0 comes back.
- c-0: held out of pb-x first, later enrolled in pb-y (not held out), e-mailed by pb-y, comes back.
- e-0: pb-x first (not held out, nothing sent yet), later held out of pb-y; does not come back.
- a-0: e-mailed by pb-x, its enrolment event never arrived; comes back.
- n-0: never enrolled; comes back.
The first enrolment decides an episode's arm overall: treated t, s, e-0, a-0 (12, 7 back), of them
contacted t and a-0 (7, 4 back), held out h and c-0 (6, 2 back). Counting e-0 as held out because
one of its enrolments was (the old rule) would change every number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.kafka import publish
from tests.support.polling import eventually
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import ActionSuppressed, ActionTriggered, CampaignEnrolled, CustomerStatusChanged
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

OPS = {"Authorization": "Bearer dev-admin-key"}
Q4 = datetime(2024, 10, 1, 8, tzinfo=UTC)
DAY = timedelta(days=1)
PARAMS = {"from": "2024-10-01", "to": "2024-12-31"}


def _status(customer: str, to: str, at: datetime) -> CustomerStatusChanged:
    data = {"customer_id": customer, "from": "churned" if to == "won_back" else "lapsed", "to": to, "at": at}
    return CustomerStatusChanged.new(source="/risk", time=at, data=data)


def _enrolled(customer: str, playbook: str, at: datetime, *, holdout: bool) -> CampaignEnrolled:
    data = {"customer_id": customer, "playbook_id": playbook, "enrollment_id": f"en-{playbook}-{customer}"}
    return CampaignEnrolled.new(source="/campaign", time=at, data={**data, "holdout": holdout})


def _action(customer: str, playbook: str, at: datetime, *, suppressed: bool = False) -> CloudEvent:
    data = {
        "action_id": f"act-{playbook}-{customer}",
        "customer_id": customer,
        "channel": "email",
        "template": "miss-you",
        "playbook_id": playbook,
        "enrollment_id": f"en-{playbook}-{customer}",
    }
    if suppressed:
        return ActionSuppressed.new(source="/campaign", time=at, data={**data, "reason": "no_consent"})
    return ActionTriggered.new(source="/campaign", time=at, data=data)


def scenario() -> tuple[list[CloudEvent], list[CloudEvent], list[CloudEvent]]:
    risk: list[CloudEvent] = []
    campaign: list[CloudEvent] = []
    actions: list[CloudEvent] = []
    day = iter(range(60))

    def churn(customer: str, *, back_after_days: int | None) -> datetime:
        churned = Q4 + next(day) * DAY
        risk.append(_status(customer, "churned", churned))
        if back_after_days is not None:
            risk.append(_status(customer, "won_back", churned + back_after_days * DAY))
        return churned

    for i in range(6):
        at = churn(f"t-{i}", back_after_days=10 if i < 3 else None)
        campaign.append(_enrolled(f"t-{i}", "pb-x", at + DAY, holdout=False))
        actions.append(_action(f"t-{i}", "pb-x", at + 2 * DAY))
    for i in range(4):
        at = churn(f"s-{i}", back_after_days=10 if i < 3 else None)
        campaign.append(_enrolled(f"s-{i}", "pb-x", at + DAY, holdout=False))
        actions.append(_action(f"s-{i}", "pb-x", at + 2 * DAY, suppressed=True))
    for i in range(5):
        at = churn(f"h-{i}", back_after_days=10 if i == 0 else None)
        campaign.append(_enrolled(f"h-{i}", "pb-x", at + DAY, holdout=True))
    at = churn("c-0", back_after_days=30)
    campaign += [
        _enrolled("c-0", "pb-x", at + DAY, holdout=True),
        _enrolled("c-0", "pb-y", at + 20 * DAY, holdout=False),
    ]
    actions.append(_action("c-0", "pb-y", at + 21 * DAY))
    at = churn("e-0", back_after_days=None)
    campaign += [
        _enrolled("e-0", "pb-x", at + DAY, holdout=False),
        _enrolled("e-0", "pb-y", at + 20 * DAY, holdout=True),
    ]
    at = churn("a-0", back_after_days=10)
    actions.append(_action("a-0", "pb-x", at + 2 * DAY))
    churn("n-0", back_after_days=5)
    return risk, campaign, actions


async def _publish(bootstrap: str, batches: list[tuple[Topic, list[CloudEvent]]]) -> None:
    for topic, events in batches:  # one topic after the other, as the services would have published them
        await publish(bootstrap, [(topic, e) for e in events])


async def _get(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=OPS)
    assert response.status_code == 200, response.text
    return response.json() if path != "/v1/kpis.csv" else response.text


def _settled(answer: dict[str, Any]) -> bool:
    overall = answer["uplift"]["overall"]
    return (
        answer["churned"] == 19
        and answer["won_back"] == 10
        and answer["actions"] == {"triggered": 8, "suppressed": 4, "suppressed_by_reason": {"no_consent": 4}}
        and (overall["treated"], overall["contacted"], overall["holdout"]) == (12, 7, 6)
        and set(answer["uplift"]["by_playbook"]) == {"pb-x", "pb-y"}
        and answer["uplift"]["by_playbook"]["pb-y"]["holdout"] == 1
    )


async def test_uplift_is_the_intent_to_treat_effect(metrics: str, kafka_bootstrap: str) -> None:
    risk, campaign, actions = scenario()
    await _publish(kafka_bootstrap, [(Topic.RISK, risk), (Topic.CAMPAIGN, campaign), (Topic.ACTIONS, actions)])
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        answer = await eventually(lambda: _get(client, "/v1/kpis", **PARAMS), _settled, timeout_s=60)
        pb_x = {
            "uplift": 0.25,  # 7/12 - 2/6
            "ci_low": -0.20172,
            "ci_high": 0.57538,
            "p_value": 0.317311,
            "treated": 12,
            "treated_rate": 0.583333,
            "holdout": 6,
            "holdout_rate": 0.333333,
            "contact_rate": 0.583333,  # 7 of the 12 reached: the 4 without consent and e-0 were not
            "uplift_contacted": 0.428571,  # 0.25 / (7/12)
            "uplift_contacted_ci_low": -0.345807,
            "uplift_contacted_ci_high": 0.986365,  # the ITT bounds / (7/12)
            "contacted": 7,
            "contacted_rate": 0.571429,
        }
        # pb-x's arms are the episodes' first enrolments, so they equal the overall ones here.
        assert answer["uplift"]["overall"] == pb_x
        assert answer["uplift"]["by_playbook"]["pb-x"] == pb_x
        # pb-y: c-0 treated, contacted and back; e-0 held out and not back.
        assert answer["uplift"]["by_playbook"]["pb-y"] == {
            "uplift": 1.0,
            "ci_low": -0.122109,
            "ci_high": 1.0,
            "p_value": 0.157299,
            "treated": 1,
            "treated_rate": 1.0,
            "holdout": 1,
            "holdout_rate": 0.0,
            "contact_rate": 1.0,
            "uplift_contacted": 1.0,
            "uplift_contacted_ci_low": -0.122109,
            "uplift_contacted_ci_high": 1.0,
            "contacted": 1,
            "contacted_rate": 1.0,
        }

        only_y = await _get(client, "/v1/kpis", **PARAMS, playbook_id="pb-y")
        assert only_y["uplift"]["by_playbook"] == {"pb-y": answer["uplift"]["by_playbook"]["pb-y"]}
        # A channel is not randomised: only the customers reached on it, no holdout, no estimate. Overall
        # counts t and a-0 (c-0 belongs to the holdout by its first enrolment); pb-y counts c-0.
        by_email = (await _get(client, "/v1/kpis", **PARAMS, channel="email"))["uplift"]
        assert (by_email["overall"]["treated"], by_email["overall"]["holdout"], by_email["overall"]["uplift"]) == (
            7,
            0,
            None,
        )
        assert {pb: (u["treated"], u["holdout"], u["uplift"]) for pb, u in by_email["by_playbook"].items()} == {
            "pb-x": (7, 0, None),
            "pb-y": (1, 0, None),
        }

        lines = (await _get(client, "/v1/kpis.csv", **PARAMS)).splitlines()
        for line in ("uplift.overall.uplift,0.25", "uplift.overall.treated,12", "uplift.overall.contact_rate,0.583333"):
            assert line in lines
        assert "uplift.by_playbook.pb-y.uplift_contacted,1.0" in lines
        assert "uplift.overall.uplift_contacted_ci_high,0.986365" in lines
