"""Rendered messages: sender identity, a working opt-out link, the §7(3) notice, no template code."""

from __future__ import annotations

from datetime import UTC, datetime

from winback_campaign.domain.actions import ConsentDecision, DueStep, settle
from winback_campaign.domain.batch import ActiveEnrolment, Exited, ExitSignal, fold_status_changes
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.templates import (
    Recipient,
    SenderIdentity,
    catalogue,
    opt_out_token,
    verify_opt_out_token,
)
from winback_campaign.service_layer.translate import exit_signal
from winback_shared.events.inbound import CampaignResponse
from winback_shared.events.produced import ConsentChanged

SENDER = SenderIdentity("Acme GmbH", "Weg 1, 10115 Berlin", "hi@acme.example", "https://acme.example/u", "s3cret")
NOW = datetime(2025, 3, 10, tzinfo=UTC)


def step(channel: str = "email", *, name: str | None = "Eve ${sender.__class__}", **kw: object) -> DueStep:
    return DueStep(
        enrollment_id="enr-1",
        step_id="1",
        customer_id="c1",
        playbook_id="we-are-sorry",
        variant="default",
        channel=channel,
        template=str(kw.pop("template", "we_are_sorry")),
        offer=kw.pop("offer", None),  # type: ignore[arg-type]
        offer_category=None,
        due_at=NOW,
        recipient=Recipient(name=name, email="eve@example.com", language="en", phone="+4930123", account_manager="Max"),
        churn_reason="quality",
        assignee="account_manager" if channel == "phone" else None,
    )


def test_every_template_exists_in_german_and_english() -> None:
    for name, languages in catalogue()["templates"].items():
        assert set(languages) == {"de", "en"}, name


def test_message_names_sender_carries_a_signed_opt_out_and_personalises() -> None:
    outcome = settle(
        step(), ConsentDecision(True, "express_consent", None, ("ev",)), sender=SENDER, default_language="de"
    )
    content = outcome.content or {}
    assert content["opt_out_url"].startswith("https://acme.example/u/") and content["opt_out_url"] in content["body"]
    assert "Acme GmbH" in content["body"] and "Weg 1, 10115 Berlin" in content["body"]
    assert "the quality" in content["body"]  # why they left
    assert "may object" not in content["body"]
    token = content["opt_out_url"].rsplit("/", 1)[1]
    assert verify_opt_out_token(token, "s3cret") == outcome.action_id
    assert verify_opt_out_token(token, "other") is None and verify_opt_out_token("x.y", "s3cret") is None


def test_existing_customer_exception_repeats_the_objection_notice() -> None:
    decision = ConsentDecision(True, "existing_customer_exception", None, ("ev",))
    content = settle(step(), decision, sender=SENDER, default_language="de").content or {}
    assert "You may object to the use of your e-mail address" in content["body"]


def test_templates_are_sandboxed_values_are_never_evaluated() -> None:
    content = settle(step(), ConsentDecision(True, "express_consent"), sender=SENDER, default_language="de").content
    assert content is not None and "Eve ${sender.__class__}" in content["subject"]


def test_phone_steps_are_tasks_for_a_person() -> None:
    outcome = settle(
        step("phone", template="account_manager_call"),
        ConsentDecision(True, "presumed_consent_b2b"),
        sender=SENDER,
        default_language="de",
    )
    assert outcome.content and outcome.content["task"] == {
        "type": "call",
        "assignee": "account_manager",
        "account_manager": "Max",
    }
    assert outcome.recipient == {
        "name": "Eve ${sender.__class__}",
        "phone": "+4930123",
        "assignee": "account_manager",
        "account_manager": "Max",
    }


def test_opt_out_token_is_bound_to_the_action() -> None:
    assert opt_out_token("a1", "k") != opt_out_token("a2", "k")


def test_objections_unsubscribes_complaints_and_replies_end_the_sequence() -> None:
    objected = ConsentChanged.new(
        source="/winback/consent",
        time=NOW,
        data={"customer_id": "c1", "channel": "email", "state": "objected", "at": NOW},
    )
    unsub = CampaignResponse.new(
        source="/tool", time=NOW, data={"customer_id": "c1", "action_id": "a1", "outcome": "unsubscribed"}
    )
    opened = CampaignResponse.new(
        source="/tool", time=NOW, data={"customer_id": "c1", "action_id": "a1", "outcome": "opened"}
    )
    foreign = CampaignResponse.new(
        source="/tool", time=NOW, data={"customer_id": "c1", "action_id": "zz", "outcome": "replied"}
    )
    ours = {"a1": "enr-1"}
    assert exit_signal(objected, ours) == ExitSignal("c1", "objection")
    assert exit_signal(unsub, ours) == ExitSignal("c1", "unsubscribe", "enr-1")
    assert exit_signal(opened, ours) is None and exit_signal(foreign, ours) is None
    active = {"c1": ActiveEnrolment("enr-1", "c1", "winback-basic", "default")}
    outcome = fold_status_changes(
        [ExitSignal("c1", "reply", "enr-1")], active, BUILTIN_PLAYBOOKS, now=NOW, replay_window=NOW - NOW
    )
    assert outcome.effects == [Exited(active["c1"], "reply")]
    # A response to an older enrolment's action leaves the current one alone.
    stale = fold_status_changes(
        [ExitSignal("c1", "reply", "enr-0")], active, BUILTIN_PLAYBOOKS, now=NOW, replay_window=NOW - NOW
    )
    assert stale.effects == []
