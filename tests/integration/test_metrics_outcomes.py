"""The spec's worked example reproduced from events, uplift against a holdout, and replays changing nothing."""

from __future__ import annotations

import functools
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.kafka import publish
from tests.support.polling import eventually
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import (
    CampaignResponse,
    ContractCancelled,
    OrderPlaced,
    OrderReturned,
    SurveyAnswered,
)
from winback_shared.events.produced import (
    ActionTriggered,
    CampaignEnrolled,
    CustomerRiskAssessed,
    CustomerStatusChanged,
)
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

OPS = {"Authorization": "Bearer dev-admin-key"}
Q1 = datetime(2024, 1, 1, 8, tzinfo=UTC)  # the worked example's quarter
Q3 = datetime(2024, 7, 1, 8, tzinfo=UTC)  # the holdout experiment's quarter
DAY = timedelta(days=1)


def _status(customer: str, to: str, at: datetime, **extra: Any) -> CustomerStatusChanged:
    data = {"customer_id": customer, "from": "churned" if to == "won_back" else "lapsed", "to": to, "at": at, **extra}
    return CustomerStatusChanged.new(source="/risk", time=at, data=data)


def _value(customer: str, at: datetime, clv: str) -> CustomerRiskAssessed:
    # The CLV rides along as an extra data field (events.md keeps unknown fields).
    data = {"customer_id": customer, "risk_score": 0.5, "as_of": at, "predicted_clv_12m": clv}
    return CustomerRiskAssessed.new(source="/risk", time=at, data=data)


def _action(
    action: str, customer: str, channel: str, at: datetime, playbook: str = "pb-main", enrollment: str | None = None
) -> ActionTriggered:
    data = {
        "action_id": action,
        "customer_id": customer,
        "channel": channel,
        "template": f"{channel}-t1",
        "variant": "A" if int(customer.rsplit("-", 1)[1]) % 2 else "B",
        "playbook_id": playbook,
        "enrollment_id": enrollment or f"en-{playbook}-{customer}",
    }
    return ActionTriggered.new(source="/campaign", time=at, data=data)


@functools.cache
def worked_example() -> tuple[list[CloudEvent], list[CloudEvent], list[CloudEvent], list[CloudEvent]]:
    """100 lost in Q1 2024; 625 phone calls (5,000 EUR); 20 back after 20 or 40 days; 5 of them lost again."""
    risk: list[CloudEvent] = []
    actions: list[CloudEvent] = []
    events: list[CloudEvent] = []
    for i in range(100):
        customer = f"ex-{i}"
        churned = Q1 + (i % 80) * DAY
        won_back = i < 20
        risk.append(_value(customer, churned - DAY, "300" if won_back else "200"))
        risk.append(_status(customer, "churned", churned, churn_reason="price" if i % 4 else "service"))
        if i % 4 == 0:
            text = "Der Service war unfreundlich" if i % 8 else "Kundenservice nicht erreichbar, Service unfreundlich"
            events.append(_cancelled(customer, churned - 2 * DAY, text))
        calls = 7 if i < 25 else 6
        actions += [
            _action(f"ex-{i}-{n}", customer, "phone", churned + (n + 1) * timedelta(hours=5)) for n in range(calls)
        ]
        if not won_back:
            continue
        back = churned + (20 if i % 2 else 40) * DAY
        risk.append(_status(customer, "won_back", back))
        risk.append(_value(customer, back + DAY, "400"))
        events.append(OrderPlaced.new(source="/shop", time=back, data=_order(customer, "o1", "150", "50")))
        if i < 5:  # lost again 100 days after the return: active at 90 days, not at 180 or 365
            risk.append(_status(customer, "churned", back + 100 * DAY, churn_reason="price"))
        if i < 10:  # NPS after the return: 5 promoters, 2 detractors, 3 passives
            events.append(_survey(customer, "nps", [10, 9, 10, 9, 9, 3, 6, 7, 8, 7][i], back + 5 * DAY))
        if i < 4:
            events.append(_survey(customer, "csat", [5, 4, 4, 2][i], back + 6 * DAY))
    # Noise that must not count: a survey before the return, an order of a customer never won back.
    events.append(_survey("ex-0", "nps", 0, Q1 + DAY))
    events.append(OrderPlaced.new(source="/shop", time=Q1 + 10 * DAY, data=_order("ex-50", "o9", "999", "100")))
    # 50 EUR of ex-1's return order came back: revenue 150 -> 100, margin 50 -> 33.33.
    returned = {"customer_id": "ex-1", "order_id": "o1", "amount": "50"}
    events.append(OrderReturned.new(source="/shop", time=Q1 + 60 * DAY, data=returned))
    # Responses to the first call of the first ten customers.
    for i in range(10):
        data = {"customer_id": f"ex-{i}", "action_id": f"ex-{i}-0", "outcome": "reached"}
        events.append(
            CampaignResponse.new(source="/callcentre", time=Q1 + (i % 80) * DAY + 6 * timedelta(hours=1), data=data)
        )
    return risk, actions, events, []


def _order(customer: str, order: str, amount: str, margin: str) -> dict[str, Any]:
    return {"customer_id": customer, "order_id": order, "amount": amount, "margin": margin}


def _survey(customer: str, survey: str, score: int, at: datetime) -> SurveyAnswered:
    return SurveyAnswered.new(
        source="/survey", time=at, data={"customer_id": customer, "survey": survey, "score": score}
    )


def _cancelled(customer: str, at: datetime, text: str) -> ContractCancelled:
    data = {"customer_id": customer, "contract_id": f"k-{customer}", "reason_code": "service", "reason_text": text}
    return ContractCancelled.new(source="/billing", time=at, data=data)


def holdout_experiment() -> tuple[list[CloudEvent], list[CloudEvent], list[CloudEvent]]:
    """Q3 2024: 40 contacted (16 won back) and 20 held out (2 won back) by playbook pb-exp."""
    risk: list[CloudEvent] = []
    campaign: list[CloudEvent] = []
    actions: list[CloudEvent] = []
    for i in range(60):
        customer = f"hx-{i}"
        churned = Q3 + (i % 30) * DAY
        holdout = i >= 40
        risk.append(_status(customer, "churned", churned, churn_reason="budget"))
        data = {"customer_id": customer, "playbook_id": "pb-exp", "enrollment_id": f"en-pb-exp-{customer}"}
        campaign.append(CampaignEnrolled.new(source="/campaign", time=churned + DAY, data={**data, "holdout": holdout}))
        if not holdout:
            actions.append(_action(f"hx-{i}-0", customer, "email", churned + 2 * DAY, playbook="pb-exp"))
        if (not holdout and i < 16) or (holdout and i < 42):
            risk.append(_status(customer, "won_back", churned + 10 * DAY))
    return risk, campaign, actions


async def _publish(bootstrap: str, batches: list[tuple[Topic, list[CloudEvent]]]) -> None:
    for topic, events in batches:  # one topic after the other, as the services would have published them
        await publish(bootstrap, [(topic, e) for e in events])


async def _get(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await client.get(path, params=params, headers=OPS)
    assert response.status_code == 200, response.text
    return response.json() if path != "/v1/kpis.csv" else response.text


Q1_PARAMS = {"from": "2024-01-01", "to": "2024-03-31"}


def _complete(answer: dict[str, Any]) -> bool:
    return (
        answer["churned"] == 100
        and answer["won_back"] == 20
        and answer["actions"]["triggered"] == 625
        and answer["recovered_revenue"] == "2950.00"
        and answer["nps_won_back"] is not None
        and answer["csat_won_back"] is not None
        and answer["clv_after"] == "400.00"
        and answer["response_rates"]["channel"].get("phone", {}).get("triggered") == 625
        and answer["churn_reasons"][-1]["themes"] != []
        and answer["response_rates"]["channel"]["phone"]["opened"] is not None
    )


async def test_the_spec_worked_example_from_events(metrics: str, kafka_bootstrap: str) -> None:
    risk, actions, events, _ = worked_example()
    await _publish(kafka_bootstrap, [(Topic.RISK, risk), (Topic.ACTIONS, actions), (Topic.EVENTS, events)])
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        answer = await eventually(lambda: _get(client, "/v1/kpis", **Q1_PARAMS), _complete, timeout_s=60)

        assert answer["churned"] == 100
        assert answer["won_back"] == 20
        assert answer["winback_rate"] == 0.2
        assert answer["cost_total"] == "5000.00"
        assert answer["cost_per_winback"] == "250.00"
        assert answer["clv_before"] == "300.00"
        assert answer["clv_after"] == "400.00"
        assert answer["lost_revenue"] == "22000.00"  # 20 x 300 + 80 x 200
        assert answer["days_to_winback"] == {"mean": 30.0, "median": 30.0}
        assert answer["retention_after_winback"] == {"90": 1.0, "180": 0.75, "365": 0.75}
        assert answer["rechurn_rate"] == {"90": 0.0, "180": 0.25, "365": 0.25}
        # 20 orders of 150 EUR after the return, 50 EUR of one returned; margin 50 each, 16.67 of it returned.
        assert answer["recovered_revenue"] == "2950.00"
        assert answer["recovered_margin"] == "983.33"
        assert answer["roi"] == pytest.approx((983.333333 - 5000) / 5000, abs=1e-5)
        assert answer["nps_won_back"] == 30.0
        assert answer["csat_won_back"] == 0.75
        phone = answer["response_rates"]["channel"]["phone"]
        assert phone["triggered"] == 625
        assert phone["delivered"] == 0.0 and phone["opened"] == 0.0
        # Actions of won-back episodes: 20 customers with 7 calls each (all of them are among the first 25).
        assert phone["converted"] == round(140 / 625, 6)
        assert set(answer["response_rates"]["variant"]) == {"A", "B"}
        assert answer["cost_by_channel"]["phone"] == {"cost": "5000.00", "won_back": 20, "cost_per_winback": "250.00"}
        reasons = {r["reason"]: r for r in answer["churn_reasons"]}
        assert (reasons["price"]["count"], reasons["service"]["count"]) == (75, 25)
        assert reasons["service"]["themes"][0] == {"theme": "service unfreundlich", "count": 25}
        # No holdout in this quarter: the uplift has its descriptive rates only.
        overall = answer["uplift"]["overall"]
        assert (overall["treated"], overall["contacted"], overall["contact_rate"], overall["treated_rate"]) == (
            100,
            100,
            1.0,
            0.2,
        )
        assert (overall["uplift"], overall["ci_low"], overall["uplift_contacted"]) == (None, None, None)

        funnel = await _get(client, "/v1/funnel", **Q1_PARAMS)
        # Enrolled (the calls carry their enrolment) -> called -> responded: reached (10, all among the
        # returners) or came back without a tracked response (20 in all) -> back (20).
        assert funnel["churned"] == 100
        assert [(s["count"], s["rate_from_previous"]) for s in funnel["stages"]] == [
            (100, 1.0),
            (100, 1.0),
            (20, 0.2),
            (20, 1.0),
        ]

        cohorts = await _get(client, "/v1/cohorts", **Q1_PARAMS)
        assert sum(c["won_back"] for c in cohorts["cohorts"]) == 20
        assert {c["month"] for c in cohorts["churn_months"]} == {"2024-01", "2024-02", "2024-03"}
        assert sum(c["churned"] for c in cohorts["churn_months"]) == 100

        csv = await _get(client, "/v1/kpis.csv", **Q1_PARAMS)
        lines = csv.splitlines()
        assert lines[0] == "metric,value"
        assert "winback_rate,0.2" in lines and "cost_per_winback,250.00" in lines
        assert "retention_after_winback.365,0.75" in lines


async def test_uplift_against_the_holdout_group(metrics: str, kafka_bootstrap: str) -> None:
    risk, campaign, actions = holdout_experiment()
    await _publish(kafka_bootstrap, [(Topic.RISK, risk), (Topic.CAMPAIGN, campaign), (Topic.ACTIONS, actions)])
    params = {"from": "2024-07-01", "to": "2024-09-30"}
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        answer = await eventually(
            lambda: _get(client, "/v1/kpis", **params),
            lambda a: (
                a["uplift"]["overall"]["holdout"] == 20
                and a["uplift"]["overall"]["contacted"] == 40
                and a["won_back"] == 18
            ),
            timeout_s=60,
        )
        overall = answer["uplift"]["overall"]
        # Everyone not held out was e-mailed: the intent-to-treat effect and the contacted one coincide.
        assert (overall["treated_rate"], overall["holdout_rate"], overall["uplift"]) == (0.4, 0.1, 0.3)
        assert (overall["contact_rate"], overall["uplift_contacted"], overall["contacted_rate"]) == (1.0, 0.3, 0.4)
        assert overall["ci_low"] < 0.3 < overall["ci_high"]
        assert overall["ci_low"] > 0  # 16/40 against 2/20 is a real difference
        assert overall["p_value"] < 0.05
        assert answer["uplift"]["by_playbook"]["pb-exp"] == overall
        funnel = await _get(client, "/v1/funnel", **params)
        # A return counts as the response even where no open or click was tracked (letters, calls).
        assert [s["count"] for s in funnel["stages"]] == [60, 40, 16, 16]


async def _duplicates(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("winback_metrics_events_duplicate_total "))
    return float(line.split()[1])


async def test_replaying_the_history_in_another_order_changes_nothing(metrics: str, kafka_bootstrap: str) -> None:
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        before = await eventually(lambda: _get(client, "/v1/kpis", **Q1_PARAMS), _complete, timeout_s=60)
        seen = await _duplicates(client)
        risk, actions, events, _ = worked_example()  # the same event objects: same (source, id)
        shuffled = [list(batch) for batch in (risk, actions, events)]
        for batch in shuffled:
            random.Random(7).shuffle(batch)
        await _publish(
            kafka_bootstrap, [(Topic.EVENTS, shuffled[2]), (Topic.ACTIONS, shuffled[1]), (Topic.RISK, shuffled[0])]
        )
        total = sum(len(b) for b in shuffled)
        await eventually(lambda: _duplicates(client), lambda n: n >= seen + total, timeout_s=60)
        after = await _get(client, "/v1/kpis", **Q1_PARAMS)
        assert after == before
        assert Decimal(after["cost_total"]) == Decimal("5000.00")


async def test_a_return_that_arrives_after_the_contacts_it_preceded_takes_them_out_of_the_episode(
    metrics: str, kafka_bootstrap: str, database_url: str
) -> None:
    """Churned on 1 October, called on the 11th; the return on the 6th reaches metrics only then.

    The call no longer belongs to the churn episode (it was made after the customer was back): it
    loses its episode and its stamp, and the batch applies. Seen in the 100,000-customer
    simulation: the roll-up trigger met the call with its episode gone but its stamp still on,
    refused the batch (NOT NULL on playbook_contacts.episode_id), and the consumer parked the
    events one by one.
    """
    churned = datetime(2024, 10, 1, 8, tzinfo=UTC)
    customer = "late-1"
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    call = "SELECT episode_id, ep_churned_at FROM metrics.actions WHERE action_id = 'late-1-0'"
    try:
        await publish(kafka_bootstrap, [(Topic.RISK, _status(customer, "churned", churned, churn_reason="price"))])
        await eventually(
            lambda: connection.fetchval("SELECT count(*) FROM metrics.churn_episodes WHERE customer_id = 'late-1'"),
            lambda n: n == 1,
        )
        action = _action("late-1-0", customer, "phone", churned + 10 * DAY, playbook="pb-late")
        await publish(kafka_bootstrap, [(Topic.ACTIONS, action)])
        stamped = await eventually(lambda: connection.fetchrow(call), lambda r: r is not None and r[1] is not None)
        assert stamped["ep_churned_at"] == churned
        await publish(kafka_bootstrap, [(Topic.RISK, _status(customer, "won_back", churned + 5 * DAY))])
        row = await eventually(lambda: connection.fetchrow(call), lambda r: r["episode_id"] is None)
        assert row["ep_churned_at"] is None
    finally:
        await connection.close()
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        october = await _get(client, "/v1/kpis", **{"from": "2024-10-01", "to": "2024-10-31"})
    assert (october["churned"], october["won_back"], october["actions"]["triggered"]) == (1, 1, 0)


async def test_a_step_of_an_at_risk_enrolment_sent_after_the_churn_stays_out_of_the_episode(
    metrics: str, kafka_bootstrap: str, database_url: str
) -> None:
    """Enrolled at risk on 1 November, the notice on the 7th, the check-in letter on the 15th.

    Campaign exits an at-risk enrolment on the churn (re_churn) once it reads it; read a week late (a
    loaded machine, a rebalance) the letter has gone out meanwhile. It is the at-risk enrolment's, not
    the churn episode's, whichever event arrives first; the win-back enrolment that follows the churn
    keeps its own letter in the episode. (Seen in the simulated business: cost_total 13.70 EUR against
    the true 12.50.)
    """
    enrolled, churned = datetime(2024, 11, 1, tzinfo=UTC), datetime(2024, 11, 7, 1, 36, tzinfo=UTC)
    customer = "risk-1"
    at_risk = {"customer_id": customer, "playbook_id": "at-risk-check-in", "enrollment_id": "en-at-risk-risk-1"}
    winback = {"customer_id": customer, "playbook_id": "we-are-sorry", "enrollment_id": "en-we-are-sorry-risk-1"}
    letter = _action("risk-1-letter", customer, "post", enrolled + 14 * DAY, "at-risk-check-in", "en-at-risk-risk-1")
    sorry = _action("risk-1-sorry", customer, "post", churned + 12 * DAY, "we-are-sorry", "en-we-are-sorry-risk-1")
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    query = "SELECT action_id, episode_id FROM metrics.actions WHERE customer_id = 'risk-1' ORDER BY action_id"
    try:
        # The letter and the enrolments first, the churn last: the order must not matter.
        await publish(
            kafka_bootstrap, [(Topic.CAMPAIGN, CampaignEnrolled.new(source="/campaign", time=enrolled, data=at_risk))]
        )
        await publish(kafka_bootstrap, [(Topic.ACTIONS, letter), (Topic.ACTIONS, sorry)])
        await publish(
            kafka_bootstrap,
            [(Topic.CAMPAIGN, CampaignEnrolled.new(source="/campaign", time=churned + 2 * DAY, data=winback))],
        )
        await publish(kafka_bootstrap, [(Topic.RISK, _status(customer, "churned", churned, churn_reason="quality"))])
        rows = await eventually(
            lambda: connection.fetch(query), lambda r: len(r) == 2 and r[1]["episode_id"] is not None
        )
        assert rows[0]["action_id"] == "risk-1-letter" and rows[0]["episode_id"] is None
        episode = await connection.fetchrow(
            "SELECT cost, triggered FROM metrics.churn_episodes WHERE customer_id = 'risk-1'"
        )
        assert (episode["cost"], episode["triggered"]) == (Decimal("1.2000"), 1)
    finally:
        await connection.close()
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        november = await _get(client, "/v1/kpis", **{"from": "2024-11-01", "to": "2024-11-30"})
    assert (november["churned"], Decimal(november["cost_total"])) == (1, Decimal("1.20"))


ROLLUP_KEYS = (
    "churn_day, ep_segment, ep_value_tier, ep_won, ep_holdout, playbook_id, channel, template, variant, status, reason"
)
RECOMPUTED = f"""
SELECT {ROLLUP_KEYS}, count(*) AS n, sum(cost) AS cost, count(*) FILTER (WHERE delivered) AS delivered,
       count(*) FILTER (WHERE opened) AS opened, count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE replied) AS replied
FROM (SELECT *, (ep_churned_at AT TIME ZONE 'UTC')::date AS churn_day FROM metrics.actions) a
WHERE ep_churned_at IS NOT NULL GROUP BY {ROLLUP_KEYS}"""

CONTACT_KEYS = "episode_id, playbook_id, ep_churned_at, ep_segment, ep_value_tier, ep_won"
RECOUNTED_CONTACTS = f"""
SELECT {CONTACT_KEYS}, count(*) AS triggered FROM metrics.actions
WHERE ep_churned_at IS NOT NULL AND NOT ep_holdout AND status = 'triggered' GROUP BY {CONTACT_KEYS}"""


async def test_the_action_rollups_equal_the_actions_after_every_write(metrics: str, database_url: str) -> None:
    # By now actions were inserted, re-stamped when customers returned, flagged by responses and replayed.
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        kept = await connection.fetch(
            f"SELECT {ROLLUP_KEYS}, n, cost, delivered, opened, clicked, replied "
            "FROM metrics.action_rollup WHERE n <> 0"
        )
        recomputed = await connection.fetch(RECOMPUTED)
        contacts = await connection.fetch(f"SELECT {CONTACT_KEYS}, triggered FROM metrics.playbook_contacts")
        recounted = await connection.fetch(RECOUNTED_CONTACTS)
    finally:
        await connection.close()
    assert len(recomputed) > 3
    assert sorted(map(tuple, kept), key=repr) == sorted(map(tuple, recomputed), key=repr)
    assert len(recounted) > 3
    assert sorted(map(tuple, contacts), key=repr) == sorted(map(tuple, recounted), key=repr)


async def test_whole_day_and_exact_instant_periods_give_the_same_action_tallies(metrics: str) -> None:
    # A period on whole UTC days reads the roll-up; one starting at any other instant reads the actions.
    instant = {**Q1_PARAMS, "from": "2023-12-31T23:59:59Z"}
    async with httpx.AsyncClient(base_url=metrics, timeout=20) as client:
        by_day = await _get(client, "/v1/kpis", **Q1_PARAMS)
        by_instant = await _get(client, "/v1/kpis", **instant)
    assert by_day["actions"]["triggered"] > 0
    for field in ("actions", "cost_total", "response_rates", "cost_by_channel"):
        assert by_day[field] == by_instant[field], field
