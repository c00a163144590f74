"""Rendered messages: sender identity, a working opt-out link, the §7(3) notice, no template code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

from winback_campaign.domain.actions import ConsentDecision, DueStep, settle
from winback_campaign.domain.batch import ActiveEnrollment, Exited, ExitSignal, fold_status_changes
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.template_engine import convert_legacy, render_part
from winback_campaign.domain.templates import (
    Recipient,
    SenderIdentity,
    catalogue,
    opt_out_token,
    template_problem,
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
    active = {"c1": ActiveEnrollment("enr-1", "c1", "winback-basic", "default")}
    outcome = fold_status_changes(
        [ExitSignal("c1", "reply", "enr-1")], active, BUILTIN_PLAYBOOKS, now=NOW, replay_window=NOW - NOW
    )
    assert outcome.effects == [Exited(active["c1"], "reply")]
    # A response to an older enrolment's action leaves the current one alone.
    stale = fold_status_changes(
        [ExitSignal("c1", "reply", "enr-0")], active, BUILTIN_PLAYBOOKS, now=NOW, replay_window=NOW - NOW
    )
    assert stale.effects == []


def test_email_gets_an_escaped_html_part_with_the_same_footer_other_channels_do_not() -> None:
    email = settle(
        step(name="Eve <script>"), ConsentDecision(True, "express_consent"), sender=SENDER, default_language="de"
    )
    content = email.content or {}
    assert content["html"].startswith('<!DOCTYPE html>\n<html lang="en"><body><p>Hello Eve &lt;script&gt;,</p>')
    assert f'<a href="{content["opt_out_url"]}">No more messages</a></p></body></html>' in content["html"]
    assert set(content) == {"language", "subject", "body", "sender", "opt_out_url", "html"}
    sms = settle(step("sms"), ConsentDecision(True, "express_consent"), sender=SENDER, default_language="de")
    assert sms.content is not None and "html" not in sms.content


def test_money_dates_percent_and_plurals_follow_the_language() -> None:
    source = (
        "{{ 1234.5 | money }} | {{ due_on | date }} | {{ discount | percent }}"
        " | {{ months }} {{ months | plural('Monat', 'Monate') }} | {{ 1 | plural('Monat', 'Monate') }}"
    )
    values = {"due_on": date(2026, 3, 1), "discount": Decimal("0.15"), "months": 3}
    assert (
        render_part(source, {**values, "language": "de"}) == "1.234,50\xa0€ | 1. März 2026 | 15\xa0% | 3 Monate | Monat"
    )
    assert render_part(source, {**values, "language": "en"}) == "€1,234.50 | March 1, 2026 | 15% | 3 Monate | Monat"


def test_discount_offers_are_worded_with_babel() -> None:
    content = settle(
        step(template="fix_offer", offer="discount_15"),
        ConsentDecision(True, "express_consent"),
        sender=SENDER,
        default_language="de",
    ).content
    assert content is not None and "we would like to win you back: 15% off for 3 months." in content["body"]


def test_string_template_syntax_is_converted_to_jinja() -> None:
    assert convert_legacy("Hi $name, ${offer} costs $$5 and $ more") == "Hi {{ name }}, {{ offer }} costs $5 and $ more"
    assert convert_legacy("{{ name }} pays $5") == "{{ name }} pays $5"  # already Jinja2: left alone


def test_a_template_that_cannot_render_is_suppressed_never_sent_half_made() -> None:
    broken = {lang: {"subject": "x", "body": "{{ name.__class__ }}"} for lang in ("de", "en")}
    outcome = settle(
        dataclasses.replace(step(), message=broken),
        ConsentDecision(True, "express_consent"),
        sender=SENDER,
        default_language="de",
    )
    assert (outcome.status, outcome.reason, outcome.content) == ("suppressed", "template_error", None)


def test_shipped_templates_pass_the_save_check() -> None:
    for name, languages in catalogue()["templates"].items():
        assert template_problem(languages) is None, name
    problem = template_problem({"de": {"subject": "s", "body": "b", "html": "<p hidden>{{ name }}"}, "en": {}})
    assert problem == "de.html: the opt-out link is not a visible link in the HTML part"
