"""Steps consent answers "not yet" for stay pending and are asked again later; enrolments keep their cause."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import httpx

from tests.unit.test_campaign_actions import due
from winback_campaign.adapters.consent_client import ConsentClient
from winback_campaign.domain.actions import ConsentDecision, ConsentRequest
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.enrollment import EnrollmentPlan, plan_enrollment
from winback_campaign.domain.waiting import CONSENT_NOT_YET, Backoff, split_not_yet
from winback_campaign.service_layer import translate
from winback_shared.events.produced import CustomerRiskAssessed, CustomerStatusChanged
from winback_shared.events.registry import parse_event

NOW = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
CAUSE = ("/billing", "cancel-1")


def test_backoff_doubles_per_wait_up_to_its_ceiling() -> None:
    backoff = Backoff(base=timedelta(seconds=1), ceiling=timedelta(seconds=60))
    waits = [backoff.retry_at(NOW, n) - NOW for n in (0, 1, 2, 5, 6, 40)]
    assert waits == [timedelta(seconds=s) for s in (1, 2, 4, 32, 60, 60)]


def test_a_not_yet_answer_holds_the_step_and_every_other_answer_settles() -> None:
    steps = [dataclasses.replace(due(), step_id=s) for s in ("allow", "deny", "later", "no_address")]
    ids = {id(s): s.step_id for s in steps}
    decisions = {
        "allow": ConsentDecision(True, "express_consent"),
        "deny": ConsentDecision(False, None, "unknown_customer"),
        "later": ConsentDecision(False, None, "not_yet_applied", pending=True),
    }
    settle, held = split_not_yet(steps, decisions, ids, NOW, Backoff())
    assert [s.step_id for s in settle] == ["allow", "deny", "no_address"]
    assert held == [(steps[2], NOW + timedelta(seconds=1), CONSENT_NOT_YET)]


async def test_the_client_names_the_cause_and_reads_not_yet_as_pending() -> None:
    sent: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.extend(body["items"])
        items = [
            {"allowed": False, "pending": True, "basis": None, "reason": "not_yet_applied", "evidence_ids": []},
            {"allowed": False, "basis": None, "reason": "unknown_customer", "evidence_ids": []},
        ]
        return httpx.Response(200, json={"items": items})

    client = ConsentClient("http://consent", "key")
    client._client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    decisions = await client.decide(
        [ConsentRequest("r1", "c1", "email", None, CAUSE), ConsentRequest("r2", "c2", "email")]
    )
    await client.close()
    assert sent[0]["caused_by"] == {"source": "/billing", "id": "cancel-1"}
    assert "caused_by" not in sent[1]
    assert decisions == {
        "r1": ConsentDecision(False, None, "not_yet_applied", (), pending=True),
        "r2": ConsentDecision(False, None, "unknown_customer", (), pending=False),
    }


def test_an_enrollment_keeps_the_cause_its_status_change_names() -> None:
    event = CustomerStatusChanged.new(
        source="/winback/risk",
        time=NOW,
        data={
            "customer_id": "c1",
            "from": "active",
            "to": "churned",
            "at": NOW,
            "winback_eligible": True,
            "caused_by": {"source": "/billing", "id": "cancel-1"},
        },
    )
    change = translate.status_change(event)
    plan = plan_enrollment(
        change, BUILTIN_PLAYBOOKS, now=NOW, has_active_enrollment=False, replay_window=timedelta(days=7)
    )
    assert change.caused_by == CAUSE
    assert isinstance(plan, EnrollmentPlan) and plan.caused_by == CAUSE


def test_every_consumed_event_but_scores_is_recorded_as_applied() -> None:
    # A status change may name any event of the customer (a ticket, a usage report): the scheduler
    # can only see that it was applied here if it is recorded, relevant to campaign or not.
    ticket = parse_event(
        {
            "specversion": "1.0",
            "id": "t1",
            "source": "/helpdesk",
            "type": "ticket.opened",
            "time": NOW.isoformat(),
            "data": {"customer_id": "c1", "ticket_id": "t1"},
        }
    )
    score = CustomerRiskAssessed.new(
        source="/winback/risk", time=NOW, data={"customer_id": "c1", "risk_score": 0.5, "as_of": NOW}
    )
    assert (translate.recorded(ticket), translate.recorded(score)) == (True, False)
