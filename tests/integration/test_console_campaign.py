"""The console's campaign endpoints against real services: ingest, consent and campaign as processes.

One small population: a business customer with an account manager and a presumed B2B phone consent
(a call task), a consumer with a postal address (a letter), and a profile that never churned. The
recorded call outcome travels the real way: campaign's outbox, `winback.inbound`, ingest, consent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import httpx
import pytest

from tests.support.events import event
from tests.support.kafka import produce, publish, read_topic
from tests.support.polling import eventually
from tests.support.services import running_services
from winback_campaign.domain.enrollment import DEFAULT_VARIANT as VARIANT
from winback_cli.stack import ServiceProcess
from winback_shared.events.produced import CustomerStatusChanged
from winback_shared.events.topics import Topic

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key"}
BERLIN = ZoneInfo("Europe/Berlin")
CALL, LETTER, PROFILE_ONLY = "k-call", "k-letter", "k-profile"
PLAYBOOK = {
    "playbook_id": "console-test",
    "name": "Console test: a call for businesses, a letter for consumers, an e-mail a day later",
    "priority": 1000,
    "holdout_percent": 0,
    "trigger": {"status": "churned"},
    "steps": [
        {
            "step_id": "call",
            "after": "P0D",
            "channel": "phone",
            "template": "account_manager_call",
            "assignee": "account_manager",
            "when": {"kinds": ["business"]},
        },
        {
            "step_id": "letter",
            "after": "P0D",
            "channel": "post",
            "template": "personal_letter",
            "when": {"kinds": ["consumer"]},
        },
        {"step_id": "mail", "after": "P1D", "channel": "email", "template": "we_miss_you"},
    ],
}
ADDRESS = {"street": "Weg 1", "postal_code": "10115", "city": "Berlin", "country": "DE"}


def next_working_morning(after: datetime) -> datetime:
    """10:00 in Berlin on the next day calls are allowed (Mon-Sat, no public holiday in Berlin)."""
    day = after.astimezone(BERLIN).date() + timedelta(days=1)
    closed = holidays.country_holidays("DE", subdiv="BE")
    while day.weekday() == 6 or day in closed:
        day += timedelta(days=1)
    return datetime.combine(day, time(10), BERLIN)


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = tmp_path_factory.mktemp("console-campaign")
    extra = {"WINBACK_SCHEDULER_INTERVAL_S": "0.2"}
    with running_services(
        ["ingest", "consent", "campaign"],
        bootstrap=kafka_bootstrap,
        database_url=database_url,
        log_dir=logs,
        extra=extra,
    ) as services:
        yield services


@pytest.fixture(scope="module")
async def world(stack: dict[str, ServiceProcess], kafka_bootstrap: str) -> AsyncIterator[dict[str, Any]]:
    """The population enrolled and its first steps triggered; yields the clients and what was seeded."""
    async with (
        httpx.AsyncClient(base_url=stack["campaign"].url, headers=ADMIN, timeout=30) as campaign,
        httpx.AsyncClient(base_url=stack["consent"].url, headers=ADMIN, timeout=30) as consent,
    ):
        r = await campaign.put(f"/v1/playbooks/{PLAYBOOK['playbook_id']}", json=PLAYBOOK)
        assert r.status_code == 200, r.text
        now = datetime.fromisoformat((await campaign.get("/v1/clock")).json()["now"])
        morning = next_working_morning(now)
        # Every service's clock, as the demo moves them: ingest refuses events dated after its own now.
        for service in ("ingest", "consent", "campaign"):
            moved = await campaign.post(f"{stack[service].url}/v1/clock", json={"now": morning.isoformat()})
            assert moved.status_code == 200, moved.text
        seeded = [
            event(
                "customer.upserted",
                {
                    "customer_id": CALL,
                    "kind": "business",
                    "name": "Berg Maschinenbau GmbH",
                    "email": "Einkauf@Berg.example",
                    "phone": "+49301234567",
                    "postal_address": ADDRESS,
                    "language": "de",
                    "account_manager": "Anna Keller",
                },
            ),
            event(
                "consent.granted",
                {
                    "customer_id": CALL,
                    "channel": "phone",
                    "kind": "presumed_b2b",
                    "evidence": {"facts": "Bestellt seit 2019 telefonisch beim Außendienst"},
                },
            ),
            event(
                "customer.upserted",
                {
                    "customer_id": LETTER,
                    "name": "Lena Brief",
                    "email": "lena@brief.example",
                    "postal_address": ADDRESS,
                    "language": "en",
                },
            ),
            event(
                "customer.upserted",
                {"customer_id": PROFILE_ONLY, "name": "Zoe Ohnegleichen", "email": "zoe@example.org"},
            ),
        ]
        await produce(kafka_bootstrap, Topic.EVENTS.value, seeded)
        # Consent must know the grant, campaign the profiles (kind, address) before the status changes.
        await eventually(lambda: consent.get(f"/v1/customers/{CALL}/consents"), lambda r: r.status_code == 200)
        await eventually(lambda: consent.get(f"/v1/customers/{LETTER}/consents"), lambda r: r.status_code == 200)
        await eventually(
            lambda: campaign.get("/v1/customers", params={"q": "k-"}), lambda r: len(r.json()["items"]) == 3
        )
        changes = [
            CustomerStatusChanged.new(
                source="/winback/risk",
                time=morning,
                data={
                    "customer_id": cid,
                    "from": "active",
                    "to": "churned",
                    "at": morning,
                    "winback_eligible": True,
                    "churn_reason": reason,
                    "segment": segment,
                    "value_tier": tier,
                },
            )
            for cid, reason, segment, tier in ((CALL, "price", "star", "A"), (LETTER, "moved", "take_along", "C"))
        ]
        await publish(kafka_bootstrap, [(Topic.RISK, c) for c in changes])
        due_before = (morning + timedelta(hours=1)).isoformat()
        await eventually(
            lambda: campaign.get("/v1/tasks", params={"due_before": due_before}), lambda r: len(r.json()["items"]) == 2
        )
        yield {"campaign": campaign, "consent": consent, "morning": morning, "due_before": due_before}


async def test_search_finds_by_id_prefix_name_and_email_ignoring_case(world: dict[str, Any]) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    by_email = (await campaign.get("/v1/customers", params={"q": "einkauf@BERG"})).json()["items"]
    assert by_email == [
        {
            "customer_id": CALL,
            "name": "Berg Maschinenbau GmbH",
            "email": "Einkauf@Berg.example",
            "kind": "business",
            "language": "de",
            "account_manager": "Anna Keller",
            "status": "churned",
            "churn_reason": "price",
            "segment": "star",
            "value_tier": "A",
        }
    ]
    by_name = (await campaign.get("/v1/customers", params={"q": "ohnegleich"})).json()["items"]
    assert [i["customer_id"] for i in by_name] == [PROFILE_ONLY]
    assert by_name[0]["status"] is None
    # Exact id first, then other prefixes, then by name.
    by_id = (await campaign.get("/v1/customers", params={"q": "k-letter"})).json()["items"]
    assert [i["customer_id"] for i in by_id] == [LETTER]
    prefix = (await campaign.get("/v1/customers", params={"q": "K-", "limit": 2})).json()["items"]
    assert [i["customer_id"] for i in prefix] == [CALL, LETTER]  # Berg before Lena; the limit cuts Zoe
    assert (await campaign.get("/v1/customers", params={"q": "100%_"})).json()["items"] == []
    blank = await campaign.get("/v1/customers", params={"q": "  "})
    assert blank.status_code == 422 and blank.headers["content-type"] == "application/problem+json"
    assert (await campaign.get("/v1/customers", params={"q": "x"}, headers={"Authorization": ""})).status_code == 401
    ingest_key = await campaign.get("/v1/customers", params={"q": "x"}, headers=INGEST)
    assert ingest_key.status_code == 403


async def test_tasks_show_call_and_letter_with_assignee_consent_and_talking_points(world: dict[str, Any]) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    consent: httpx.AsyncClient = world["consent"]
    page = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"]})).json()
    assert page["next_cursor"] is None
    call, letter = sorted(page["items"], key=lambda t: t["channel"] != "phone")
    [grant] = (await consent.get(f"/v1/customers/{CALL}/ledger", params={"entry_type": "grant"})).json()["items"]
    morning = world["morning"]
    shown = {
        k: call[k] for k in call if k not in ("due_at", "created_at", "talking_points", "action_id", "enrollment_id")
    }
    assert shown == {
        "customer_id": CALL,
        "channel": "phone",
        "status": "open",
        "assignee": "account_manager",
        "assignee_name": "Anna Keller",
        "customer": {
            "name": "Berg Maschinenbau GmbH",
            "email": "Einkauf@Berg.example",
            "phone": "+49301234567",
            "postal_address": ADDRESS,
            "language": "de",
            "kind": "business",
        },
        "churn_reason": "price",
        "segment": "star",
        "value_tier": "A",
        "customer_status": "churned",
        "consent": {"basis": "presumed_consent_b2b", "evidence_ids": [grant["id"]]},
        "offer": None,
        "playbook_id": "console-test",
        "step_id": "call",
        "template": "account_manager_call",
        "outcome": None,
        "reported": None,
    }
    # Due when the enrolment was made: the moved clock's morning, a moment after the change.
    assert timedelta(0) <= datetime.fromisoformat(call["due_at"]) - morning < timedelta(minutes=1)
    assert call["talking_points"]["language"] == "de"
    assert call["talking_points"]["subject"] and "Berg Maschinenbau GmbH" in call["talking_points"]["body"]
    assert (letter["customer_id"], letter["channel"], letter["assignee"], letter["assignee_name"]) == (
        LETTER,
        "post",
        "print_house",
        None,
    )
    assert letter["consent"] == {"basis": "postal_legitimate_interest", "evidence_ids": []}
    assert letter["talking_points"]["language"] == "en"
    only_letters = (
        await campaign.get("/v1/tasks", params={"due_before": world["due_before"], "channel": "post"})
    ).json()
    assert [t["customer_id"] for t in only_letters["items"]] == [LETTER]
    first = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"], "limit": 1})).json()
    second = (
        await campaign.get("/v1/tasks", params={"due_before": world["due_before"], "cursor": first["next_cursor"]})
    ).json()
    assert [t["action_id"] for t in first["items"] + second["items"]] == [t["action_id"] for t in page["items"]]
    earlier = (await campaign.get("/v1/tasks", params={"due_before": morning.isoformat()})).json()
    assert earlier["items"] == []  # due at the morning itself: not before it
    assert (await campaign.get("/v1/tasks", params={"channel": "email"})).status_code == 422
    assert (await campaign.get("/v1/tasks", params={"due_before": "2026-01-01T10:00:00"})).status_code == 422
    assert (await campaign.get("/v1/tasks", params={"cursor": "nonsense"})).status_code == 422


async def test_rendering_a_step_for_a_customer_shows_sender_and_a_dead_opt_out_link(world: dict[str, Any]) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    url = "/v1/playbooks/console-test/steps/mail/render"
    r = await campaign.post(url, json={"customer_id": LETTER, "language": "de"})
    assert r.status_code == 200, r.text
    de = r.json()
    assert {
        k: de[k]
        for k in ("playbook_id", "version", "step_id", "channel", "template", "offer", "customer_id", "language")
    } == {
        "playbook_id": "console-test",
        "version": 1,
        "step_id": "mail",
        "channel": "email",
        "template": "we_miss_you",
        "offer": None,
        "customer_id": LETTER,
        "language": "de",
    }
    assert de["sender"] == {
        "name": "Winback Demo GmbH",
        "address": "Musterstrasse 1, 10115 Berlin",
        "email": "service@example.com",
    }
    assert de["opt_out_url"] in de["body"] and de["opt_out_url"] in de["html"]
    assert "Lena Brief" in de["body"] and de["html"].startswith("<!DOCTYPE html>")
    en = (
        await campaign.post(url, json={"customer_id": LETTER, "language": "en", "basis": "existing_customer_exception"})
    ).json()
    assert en["language"] == "en" and en["subject"] != de["subject"]
    notice_free = (await campaign.post(url, json={"customer_id": LETTER, "language": "en"})).json()
    assert len(en["body"]) > len(notice_free["body"])  # the §7(3) objection notice is added
    letter = (
        await campaign.post(
            "/v1/playbooks/console-test/steps/letter/render", json={"customer_id": LETTER, "language": "en"}
        )
    ).json()
    assert letter["html"] is None and letter["channel"] == "post"
    # The preview's link names no action: following it unsubscribes nobody.
    token = de["opt_out_url"].rsplit("/", 1)[1]
    assert (await campaign.get(f"/v1/unsubscribe/{token}")).status_code == 404
    assert (await campaign.post(url, json={"customer_id": "nobody", "language": "de"})).status_code == 404
    assert (
        await campaign.post(
            "/v1/playbooks/console-test/steps/nope/render", json={"customer_id": LETTER, "language": "de"}
        )
    ).status_code == 404
    assert (
        await campaign.post("/v1/playbooks/nope/steps/mail/render", json={"customer_id": LETTER, "language": "de"})
    ).status_code == 404
    assert (await campaign.post(url, json={"customer_id": LETTER, "language": "fr"})).status_code == 422
    assert (await campaign.post(url, json={"customer_id": LETTER, "language": "de", "variant": "B"})).status_code == 404


async def test_outcome_errors_are_precise(world: dict[str, Any]) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    assert (await campaign.post("/v1/actions/nope/outcome", json={"outcome": "reached"})).status_code == 404
    tasks = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"]})).json()["items"]
    action_id = tasks[0]["action_id"]
    bad = await campaign.post(f"/v1/actions/{action_id}/outcome", json={"outcome": "maybe"})
    assert bad.status_code == 422
    extra = await campaign.post(f"/v1/actions/{action_id}/outcome", json={"outcome": "reached", "x": 1})
    assert extra.status_code == 422
    ingest_key = await campaign.post(f"/v1/actions/{action_id}/outcome", json={"outcome": "reached"}, headers=INGEST)
    assert ingest_key.status_code == 403
    # Nothing was recorded by the refused requests.
    still_open = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"]})).json()["items"]
    assert len(still_open) == 2


async def test_objection_on_the_phone_ends_the_sequence_and_consent_denies_every_channel(
    world: dict[str, Any], kafka_bootstrap: str
) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    consent: httpx.AsyncClient = world["consent"]
    tasks = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"], "channel": "phone"})).json()
    [call] = tasks["items"]
    action_id = call["action_id"]
    body = {"outcome": "objected", "note": "Möchte keine Anrufe mehr"}
    first = await campaign.post(f"/v1/actions/{action_id}/outcome", json=body)
    assert first.status_code == 201, first.text
    recorded = first.json()
    assert {k: v for k, v in recorded.items() if k != "recorded_at"} == {
        "action_id": action_id,
        "customer_id": CALL,
        "outcome": "objected",
        "note": "Möchte keine Anrufe mehr",
        "events": [
            {"type": "campaign.response", "id": f"outcome:{action_id}:response"},
            {"type": "contact.objected", "id": f"outcome:{action_id}:objection"},
        ],
        "enrollment_exit": "objection",
    }
    again = await campaign.post(f"/v1/actions/{action_id}/outcome", json=body)
    assert (again.status_code, again.json()) == (200, recorded)
    conflict = await campaign.post(f"/v1/actions/{action_id}/outcome", json={"outcome": "reached"})
    assert conflict.status_code == 409 and "objected" in conflict.json()["detail"]

    # The next step never goes out: the enrolment ended at once.
    [enrollment] = (await campaign.get(f"/v1/customers/{CALL}/enrollments")).json()["items"]
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "objection")
    assert [(s["step_id"], s["status"], s["reason"]) for s in enrollment["steps"]] == [
        ("call", "triggered", None),
        ("mail", "skipped", "objection"),
    ]

    # Once, on the way back in: the events reached ingest's topic exactly once each. Campaign's outbox
    # relay publishes them after the answer, so read until both are there (not once, after 1 s of quiet).
    def outcome_events(inbound: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return sorted((e["type"], e["id"]) for e in inbound if e["id"].startswith(f"outcome:{action_id}"))

    inbound = await eventually(
        lambda: read_topic(kafka_bootstrap, Topic.INBOUND.value), lambda found: len(outcome_events(found)) >= 2
    )
    mine = outcome_events(inbound)
    assert mine == [
        ("campaign.response", f"outcome:{action_id}:response"),
        ("contact.objected", f"outcome:{action_id}:objection"),
    ]
    # Consent applied the objection: every channel, the phone consent included, is denied now.
    for channel in ("phone", "email", "post"):

        async def decide(ch: str = channel) -> dict[str, Any]:
            r = await consent.post("/v1/decisions", json={"customer_id": CALL, "channel": ch})
            assert r.status_code == 200, r.text
            answer: dict[str, Any] = r.json()
            return answer

        answer = await eventually(decide, lambda a: a["allowed"] is False)
        assert (answer["allowed"], answer["reason"]) == (False, "objection")
    [objection] = (await consent.get(f"/v1/customers/{CALL}/ledger", params={"entry_type": "objection"})).json()[
        "items"
    ]
    assert objection["payload"]["channels"] == ["all"]

    done = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"], "status": "done"})).json()[
        "items"
    ]
    assert [(t["action_id"], t["status"], t["outcome"]["outcome"], t["outcome"]["note"]) for t in done] == [
        (action_id, "done", "objected", "Möchte keine Anrufe mehr")
    ]
    still_open = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"]})).json()["items"]
    assert [t["customer_id"] for t in still_open] == [LETTER]


async def test_timeline_tells_campaigns_part_newest_first_in_pages(world: dict[str, Any]) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    whole = (await campaign.get(f"/v1/customers/{CALL}/timeline")).json()
    assert whole["customer_id"] == CALL and whole["next_before"] is None
    types = [i["type"] for i in whole["items"]]
    # The outcome and the exit it caused share their moment; the item key orders them.
    assert types == ["outcome_recorded", "exited", "action_triggered", "enrolled"]
    outcome, exited, action, enrolled = whole["items"]
    assert exited["details"] == {
        "enrollment_id": enrolled["ref"],
        "playbook_id": "console-test",
        "exit_reason": "objection",
    }
    assert outcome["details"] == {
        "action_id": action["ref"],
        "channel": "phone",
        "outcome": "objected",
        "note": "Möchte keine Anrufe mehr",
    }
    assert action["details"]["consent"]["basis"] == "presumed_consent_b2b"
    assert (
        action["details"]["content"]["language"] == "de"
        and action["details"]["content"]["task"]["assignee"] == "account_manager"
    )
    assert {k: enrolled["details"][k] for k in ("playbook_id", "playbook_version", "variant", "holdout")} == {
        "playbook_id": "console-test",
        "playbook_version": 1,
        "variant": VARIANT,
        "holdout": False,
    }
    assert datetime.fromisoformat(enrolled["at"]) >= world["morning"]
    # Pages of one: the same items, in the same order.
    seen, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"before": before} if before else {})
        page = (await campaign.get(f"/v1/customers/{CALL}/timeline", params=params)).json()
        seen += page["items"]
        before = page["next_before"]
        if before is None:
            break
    assert seen == whole["items"]
    assert (await campaign.get("/v1/customers/nobody/timeline")).json() == {
        "customer_id": "nobody",
        "items": [],
        "next_before": None,
    }
    bad = await campaign.get(f"/v1/customers/{CALL}/timeline", params={"before": "garbage"})
    assert bad.status_code == 422


async def test_preview_counts_who_would_enrol_now(world: dict[str, Any]) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    # The caller whose sequence ended is eligible again by the playbook's rules (consent would deny
    # at sending); the letter customer is still enrolled and the profile never churned.
    r = await campaign.get("/v1/playbooks/console-test/preview", params={"sample": 5})
    assert r.status_code == 200, r.text
    preview = r.json()
    assert (preview["playbook_id"], preview["version"], preview["count"], preview["capped"]) == (
        "console-test",
        1,
        1,
        False,
    )
    [item] = preview["sample"]
    assert {k: item[k] for k in ("customer_id", "name", "churn_reason", "segment", "value_tier", "holdout")} == {
        "customer_id": CALL,
        "name": "Berg Maschinenbau GmbH",
        "churn_reason": "price",
        "segment": "star",
        "value_tier": "A",
        "holdout": False,
    }
    assert [s["step_id"] for s in item["steps"]] == ["call", "mail"]
    none = (await campaign.get("/v1/playbooks/console-test/preview", params={"sample": 0})).json()
    assert (none["count"], none["sample"]) == (1, [])
    assert (await campaign.get("/v1/playbooks/nope/preview")).status_code == 404
    assert (await campaign.get("/v1/playbooks/feature-released/preview")).status_code == 422


async def test_consent_ledger_pages_newest_first_with_the_hash_chain(world: dict[str, Any]) -> None:
    consent: httpx.AsyncClient = world["consent"]
    whole = (await consent.get(f"/v1/customers/{CALL}/ledger")).json()
    assert whole["customer_id"] == CALL and whole["next_before"] is None
    entries = whole["items"]
    assert [e["seq"] for e in entries] == list(range(len(entries), 0, -1))
    assert all(newer["prev_hash"] == older["hash"] for newer, older in pairwise(entries))
    types = [e["entry_type"] for e in entries]
    # The grant first, the call's use of it, and the objection recorded from the call's outcome last.
    assert (types[-1], types[0], "use" in types) == ("grant", "objection", True)
    assert entries[-1]["payload"]["kind"] == "presumed_b2b"
    assert entries[-1]["payload"]["evidence"] == {"facts": "Bestellt seit 2019 telefonisch beim Außendienst"}
    verified = (await consent.get(f"/v1/customers/{CALL}/ledger/verify")).json()
    assert (verified["valid"], verified["entries"]) == (True, len(entries))
    seen, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"before": before} if before else {})
        page = (await consent.get(f"/v1/customers/{CALL}/ledger", params=params)).json()
        seen += page["items"]
        before = page["next_before"]
        if before is None:
            break
    assert seen == entries
    grants = (await consent.get(f"/v1/customers/{CALL}/ledger", params={"entry_type": ["grant", "objection"]})).json()
    assert [e["entry_type"] for e in grants["items"]] == ["objection", "grant"]
    assert (await consent.get("/v1/customers/nobody/ledger")).status_code == 404
    assert (await consent.get(f"/v1/customers/{CALL}/ledger", params={"before": "x"})).status_code == 422
    assert (await consent.get(f"/v1/customers/{CALL}/ledger", params={"entry_type": "gift"})).status_code == 422
    assert (await consent.get(f"/v1/customers/{CALL}/ledger", headers=INGEST)).status_code == 403


async def test_a_declined_letter_ends_the_sequence_with_a_reply(world: dict[str, Any], kafka_bootstrap: str) -> None:
    campaign: httpx.AsyncClient = world["campaign"]
    [letter] = (await campaign.get("/v1/tasks", params={"due_before": world["due_before"], "channel": "post"})).json()[
        "items"
    ]
    action_id = letter["action_id"]
    r = await campaign.post(f"/v1/actions/{action_id}/outcome", json={"outcome": "declined"})
    assert r.status_code == 201, r.text
    assert (r.json()["enrollment_exit"], r.json()["note"]) == ("reply", None)
    assert r.json()["events"] == [{"type": "campaign.response", "id": f"outcome:{action_id}:response"}]
    [enrollment] = (await campaign.get(f"/v1/customers/{LETTER}/enrollments")).json()["items"]
    assert (enrollment["status"], enrollment["exit_reason"]) == ("exited", "reply")
    assert [(s["step_id"], s["status"], s["reason"]) for s in enrollment["steps"]] == [
        ("letter", "triggered", None),
        ("mail", "skipped", "reply"),
    ]
    # Published by campaign's outbox relay after the answer: read until it is there.
    inbound = await eventually(
        lambda: read_topic(kafka_bootstrap, Topic.INBOUND.value),
        lambda found: any(e["id"] == f"outcome:{action_id}:response" for e in found),
    )
    mine = [(e["type"], e["data"]["outcome"]) for e in inbound if e["id"] == f"outcome:{action_id}:response"]
    assert mine == [("campaign.response", "replied")]


async def test_a_letter_the_print_house_delivered_leaves_the_open_tasks(
    world: dict[str, Any], kafka_bootstrap: str
) -> None:
    """The print house reports `delivered` as `campaign.response`: the letter is done, with that report.

    Before, letters stayed open on /today after delivery (417 after a simulated 18 months).
    """
    campaign: httpx.AsyncClient = world["campaign"]
    morning: datetime = world["morning"]
    customer = "k-letter-delivered"
    profile = {"customer_id": customer, "name": "Jonas Post", "postal_address": ADDRESS, "language": "de"}
    await produce(kafka_bootstrap, Topic.EVENTS.value, [event("customer.upserted", profile)])
    await eventually(
        lambda: campaign.get("/v1/customers", params={"q": customer}), lambda r: len(r.json()["items"]) == 1
    )
    churn = {"customer_id": customer, "from": "active", "to": "churned", "at": morning, "winback_eligible": True}
    churn |= {"churn_reason": "moved", "segment": "take_along", "value_tier": "C"}
    await publish(
        kafka_bootstrap, [(Topic.RISK, CustomerStatusChanged.new(source="/winback/risk", time=morning, data=churn))]
    )

    def letters(status: str) -> Any:
        params = {"due_before": world["due_before"], "channel": "post", "status": status}
        return campaign.get("/v1/tasks", params=params)

    def mine(r: httpx.Response) -> list[dict[str, Any]]:
        return [t for t in r.json()["items"] if t["customer_id"] == customer]

    [letter] = mine(await eventually(lambda: letters("open"), lambda r: len(mine(r)) == 1))
    assert (letter["status"], letter["reported"]) == ("open", None)
    delivered_at = morning + timedelta(hours=3)

    def report(outcome: str, at: datetime) -> dict[str, Any]:
        data = {"customer_id": customer, "action_id": letter["action_id"], "outcome": outcome}
        return event("campaign.response", data, time=at, id=f"print-house:{letter['action_id']}:{outcome}")

    # A later reply arrives first, then the delivery: the earliest report is the one kept.
    await produce(kafka_bootstrap, Topic.EVENTS.value, [report("replied", morning + timedelta(hours=20))])
    await eventually(lambda: letters("done"), lambda r: len(mine(r)) == 1)
    await produce(kafka_bootstrap, Topic.EVENTS.value, [report("delivered", delivered_at)])
    [done] = mine(
        await eventually(
            lambda: letters("done"), lambda r: [t["reported"]["outcome"] for t in mine(r)] == ["delivered"]
        )
    )
    assert (done["status"], done["outcome"]) == ("done", None)
    assert datetime.fromisoformat(done["reported"]["at"]) == delivered_at
    assert mine(await letters("open")) == []
