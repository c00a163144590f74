"""Campaign's batch flows with a fake unit of work and a scripted consent (cosmicpython's test_handlers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from tests.support.campaign_events import T0, cancelled, churned
from tests.support.campaign_fakes import CampaignState, FakeCampaignUnitOfWork, ScriptedConsent, campaign_store
from tests.support.fakes import Store
from winback_campaign.domain.actions import ConsentDecision, ConsentUnavailable
from winback_campaign.domain.enrollment import choose_variant
from winback_campaign.domain.ids import action_id_for
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.domain.templates import SenderIdentity, opt_out_token
from winback_campaign.domain.waiting import CONSENT_NOT_YET, Backoff
from winback_campaign.service_layer.enrollment import EnrollmentRules, apply_batch
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_campaign.service_layer.unsubscribe import UnknownLink, Unsubscriber
from winback_shared.clock import FixedClock
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CampaignResponse, CustomerUpserted
from winback_shared.events.produced import ConsentChanged, CustomerErased

STEPS = [
    {"step_id": "mail", "after": "P0D", "channel": "email", "template": "we_miss_you"},
    {"step_id": "later", "after": "P7D", "channel": "email", "template": "we_miss_you"},
]
PLAYBOOK = Playbook.model_validate(
    {
        "playbook_id": "unit",
        "name": "unit",
        "priority": 100,
        "holdout_percent": 0,
        "trigger": {"status": "churned"},
        "variants": [{"name": "warm", "weight": 1}, {"name": "plain", "weight": 1}],
        "steps": STEPS,
    }
)
HELD_OUT = Playbook.model_validate({**PLAYBOOK.as_dict(), "playbook_id": "held-out", "holdout_percent": 100})
RULES = EnrollmentRules(replay_window=timedelta(days=7), shipped=[PLAYBOOK])
SENDER = SenderIdentity("Acme", "Weg 1", "hi@acme.example", "https://acme.example/u")


def profile(customer_id: str, **data: Any) -> CloudEvent:
    data = {"customer_id": customer_id, "email": f"{customer_id}@example.com", "language": "de", **data}
    return CustomerUpserted.new(source="/crm", time=T0, data=data, id=f"profile-{customer_id}")


def objected(customer_id: str) -> CloudEvent:
    data = {"customer_id": customer_id, "channel": "email", "state": "objected", "at": T0}
    return ConsentChanged.new(source="/winback/consent", time=T0, data=data, id=f"objected-{customer_id}")


async def consume(store: Store[CampaignState], batch: Sequence[CloudEvent], rules: EnrollmentRules = RULES) -> bool:
    return await apply_batch(batch, FakeCampaignUnitOfWork(store), FixedClock(T0), rules)


def enrollment_id(store: Store[CampaignState], customer_id: str) -> str:
    (eid,) = (e for e, row in store.state.enrollments.items() if row["customer_id"] == customer_id)
    return eid


def scheduler(store: Store[CampaignState], consent: ScriptedConsent, clock: FixedClock, **config: Any) -> Scheduler:
    return Scheduler(
        uow=lambda: FakeCampaignUnitOfWork(store),
        clock=clock,
        consent=consent,
        sender=SENDER,
        config=SchedulerConfig(batch_size=10, **config),
    )


async def test_a_churn_whose_cause_is_applied_enrols_in_the_chosen_variant_and_announces_it() -> None:
    store = campaign_store()

    assert await consume(store, [profile("c1"), cancelled("c1"), churned("c1")]) is True

    eid = enrollment_id(store, "c1")
    row = store.state.enrollments[eid]
    assert (row["playbook_id"], row["variant"], row["holdout"], row["status"]) == (
        "unit",
        choose_variant("c1", PLAYBOOK),
        False,
        "active",
    )
    assert store.state.step_rows() == {(eid, "mail"): ("pending", None), (eid, "later"): ("pending", None)}
    assert store.state.published() == [("winback.campaign", "campaign.enrolled", f"enrolled:{eid}")]
    assert store.commits == 1


async def test_an_enrolment_is_never_dated_before_the_churn_that_caused_it() -> None:
    # Risk dated the churn 18 hours after campaign's clock (clock skew, or a simulator moving clocks
    # once a day): metrics counts an enrolment into the churn's episode only at or after the churn.
    store = campaign_store()
    later = T0 + timedelta(hours=18)

    await consume(store, [profile("c1"), cancelled("c1", later), churned("c1", later)])

    (message,) = store.state.outbox
    assert json.loads(message.payload)["time"] == later.isoformat().replace("+00:00", "Z")


async def test_a_held_out_customer_is_enrolled_as_control_with_every_step_skipped() -> None:
    store = campaign_store()
    rules = EnrollmentRules(replay_window=timedelta(days=7), shipped=[HELD_OUT])

    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")], rules)

    eid = enrollment_id(store, "c1")
    assert (store.state.enrollments[eid]["holdout"], store.state.enrollments[eid]["status"]) == (True, "completed")
    assert store.state.step_rows() == {(eid, "mail"): ("skipped", "holdout"), (eid, "later"): ("skipped", "holdout")}
    assert store.state.published() == [("winback.campaign", "campaign.enrolled", f"enrolled:{eid}")]


async def test_duplicates_in_a_batch_and_a_redelivered_batch_are_applied_once() -> None:
    store = campaign_store()
    batch = [profile("c1"), cancelled("c1"), churned("c1"), churned("c1")]

    await consume(store, batch)
    assert await consume(store, batch) is False

    assert len(store.state.enrollments) == 1
    assert [t for _, t, _ in store.state.published()] == ["campaign.enrolled"]
    assert store.state.processed == {("/crm", "profile-c1"), ("/billing", "cancel-c1"), ("/winback/risk", "churn-c1")}


async def test_a_churn_ahead_of_its_cause_waits_and_enrols_once_the_cause_is_applied() -> None:
    store = campaign_store()

    assert await consume(store, [churned("c1")]) is False
    assert (store.state.enrollments, list(store.state.deferred)) == ({}, [("/winback/risk", "churn-c1")])

    assert await consume(store, [profile("c1"), cancelled("c1")]) is True
    assert (len(store.state.enrollments), store.state.deferred) == (1, {})
    # The profile came with the cause: the enrolment's first e-mail has its address.
    assert store.state.customers["c1"]["email"] == "c1@example.com"


async def test_an_objection_exits_the_enrollment_and_cancels_its_pending_steps() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    eid = enrollment_id(store, "c1")

    assert await consume(store, [objected("c1")]) is True

    row = store.state.enrollments[eid]
    assert (row["status"], row["exit_reason"], row["ended_at"]) == ("exited", "objection", T0)
    assert store.state.step_rows() == {
        (eid, "mail"): ("skipped", "objection"),
        (eid, "later"): ("skipped", "objection"),
    }
    assert [t for _, t, _ in store.state.published()] == ["campaign.enrolled", "campaign.exited"]


async def test_an_erasure_deletes_the_customer_and_keeps_the_replayed_history_out() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    erased = CustomerErased.new(
        source="/winback/consent", time=T0, data={"customer_id": "c1", "erased_at": T0 + timedelta(hours=1)}
    )

    await consume(store, [erased])
    await consume(store, [profile("c1", name="Replayed")])  # an older event, e.g. a replay from the start

    assert (store.state.customers, store.state.enrollments, store.state.steps) == ({}, {}, {})
    assert store.state.outbox == []  # the unpublished enrolment named the customer
    assert store.state.tombstones == {"c1": T0 + timedelta(hours=1)}


async def test_a_due_step_allowed_by_consent_is_triggered_and_the_next_step_stays_pending() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    eid = enrollment_id(store, "c1")
    consent = ScriptedConsent()

    assert await scheduler(store, consent, FixedClock(T0), webhooks={"email": "https://hooks.example"}).run_once() == 1

    action = action_id_for(eid, "mail")
    assert [(r.request_id, r.channel, r.caused_by) for r in consent.asked] == [
        (action, "email", ("/billing", "cancel-c1"))
    ]
    assert store.state.step_rows() == {(eid, "mail"): ("triggered", None), (eid, "later"): ("pending", None)}
    assert store.state.published()[1:] == [("winback.actions", "action.triggered", f"action:{action}")]
    assert [(a, channel, url) for a, channel, url, _ in store.state.webhooks] == [
        (action, "email", "https://hooks.example")
    ]
    assert store.state.enrollments[eid]["status"] == "active"


async def test_an_objecting_answer_suppresses_the_step_and_ends_the_enrollment() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    eid = enrollment_id(store, "c1")
    consent = ScriptedConsent({"c1": ConsentDecision(False, None, "objection", ("ev-9",))})

    await scheduler(store, consent, FixedClock(T0)).run_once()

    assert store.state.step_rows() == {
        (eid, "mail"): ("suppressed", "objection"),
        (eid, "later"): ("skipped", "objection"),
    }
    assert [t for _, t, _ in store.state.published()] == ["campaign.enrolled", "action.suppressed", "campaign.exited"]
    assert (store.state.enrollments[eid]["status"], store.state.webhooks) == ("exited", [])


async def test_not_yet_keeps_the_step_pending_until_the_backoff_then_it_is_sent() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    eid = enrollment_id(store, "c1")
    consent = ScriptedConsent({"c1": ConsentDecision(False, None, "not_yet_applied", (), pending=True)})
    clock = FixedClock(T0)
    backoff = Backoff(base=timedelta(seconds=2), ceiling=timedelta(seconds=5))
    rounds = scheduler(store, consent, clock, backoff=backoff)

    assert await rounds.run_once() == 1
    step = store.state.steps[(eid, "mail")]
    assert (step["status"], step["reason"], step["due_at"], step["wait_attempts"]) == (
        "pending",
        CONSENT_NOT_YET,
        backoff.retry_at(T0, 0),
        1,
    )
    assert await rounds.run_once() == 0  # not due again before the backoff
    consent.answers.clear()
    clock.advance(timedelta(seconds=5))
    assert await rounds.run_once() == 1
    assert store.state.step_rows()[(eid, "mail")] == ("triggered", None)
    assert [t for _, t, _ in store.state.published()] == ["campaign.enrolled", "action.triggered"]


async def test_consent_down_rolls_the_round_back_and_settles_nothing() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    before = (store.commits, store.state.step_rows(), len(store.state.outbox))
    consent = ScriptedConsent()
    consent.down = True

    with pytest.raises(ConsentUnavailable):
        await scheduler(store, consent, FixedClock(T0)).run_once()

    assert (store.commits, store.state.step_rows(), len(store.state.outbox)) == before
    assert store.state.actions == {}


async def test_an_unsubscribe_reply_to_our_action_exits_only_that_enrollment() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    eid = enrollment_id(store, "c1")
    await scheduler(store, ScriptedConsent(), FixedClock(T0)).run_once()
    action = action_id_for(eid, "mail")
    foreign = {"customer_id": "c1", "action_id": "doi-mail", "outcome": "unsubscribed"}
    ours = {"customer_id": "c1", "action_id": action, "outcome": "unsubscribed"}

    await consume(store, [CampaignResponse.new(source="/esp", time=T0, data=foreign)])
    assert store.state.enrollments[eid]["status"] == "active"  # consent's DOI mail is not ours
    await consume(store, [CampaignResponse.new(source="/esp", time=T0, data=ours)])

    row = store.state.enrollments[eid]
    assert (row["status"], row["exit_reason"]) == ("exited", "unsubscribe")
    assert store.state.step_rows()[(eid, "later")] == ("skipped", "unsubscribe")


async def test_an_opt_out_click_announces_the_objection_and_ends_the_enrollment_once() -> None:
    store = campaign_store()
    await consume(store, [profile("c1"), cancelled("c1"), churned("c1")])
    eid = enrollment_id(store, "c1")
    await scheduler(store, ScriptedConsent(), FixedClock(T0)).run_once()
    action = action_id_for(eid, "mail")
    unsubscriber = Unsubscriber(lambda: FakeCampaignUnitOfWork(store), FixedClock(T0), "secret")
    sent = len(store.state.outbox)

    await unsubscriber.unsubscribe(opt_out_token(action, "secret"))
    await unsubscriber.unsubscribe(opt_out_token(action, "secret"))  # a second click

    assert store.state.published()[sent:] == [
        ("winback.inbound", "campaign.response", f"unsubscribe:{action}"),
        ("winback.campaign", "campaign.exited", f"exited:{eid}"),
        ("winback.inbound", "campaign.response", f"unsubscribe:{action}"),  # same id: consumers apply it once
    ]
    assert store.state.step_rows()[(eid, "later")] == ("skipped", "unsubscribe")
    with pytest.raises(UnknownLink):
        await unsubscriber.unsubscribe(opt_out_token("no-such-action", "secret"))
