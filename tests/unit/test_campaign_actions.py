"""Campaign actions: deterministic ids, trigger/suppress decisions, message content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from winback_campaign.domain.actions import ConsentDecision, DueStep, has_address, settle
from winback_campaign.domain.ids import action_id_for
from winback_campaign.domain.templates import Recipient, SenderIdentity

SENDER = SenderIdentity("Acme GmbH", "Hauptstr. 1, Berlin", "hi@acme.example", "https://acme.example/optout")


def due(language: str | None = "de", email: str | None = "anna@example.com") -> DueStep:
    return DueStep(
        enrollment_id="enr-1",
        step_id="1",
        customer_id="c1",
        playbook_id="winback-basic",
        variant="default",
        channel="email",
        template="we_miss_you",
        offer=None,
        offer_category=None,
        due_at=datetime(2025, 1, 1, tzinfo=UTC),
        recipient=Recipient("Anna", email, language),
    )


def test_action_id_is_deterministic_per_enrollment_and_step() -> None:
    first = action_id_for("enr-1", "1")
    assert first == action_id_for("enr-1", "1")
    assert first != action_id_for("enr-1", "2")
    assert first != action_id_for("enr-2", "1")
    assert uuid.UUID(first).version == 5


def test_allow_triggers_with_german_content_sender_and_opt_out() -> None:
    outcome = settle(
        due(), ConsentDecision(True, "express_consent", None, ("ev1",)), sender=SENDER, default_language="en"
    )
    assert outcome.status == "triggered" and outcome.reason is None
    assert outcome.action_id == action_id_for("enr-1", "1")
    assert outcome.content is not None
    assert outcome.content["language"] == "de"
    assert "Anna" in outcome.content["subject"]
    assert "Acme GmbH" in outcome.content["body"]
    assert f"https://acme.example/optout/{outcome.action_id}" in outcome.content["body"]
    assert outcome.recipient == {"email": "anna@example.com", "name": "Anna"}
    assert outcome.consent == {"basis": "express_consent", "evidence_ids": ["ev1"]}


def test_existing_customer_exception_repeats_the_objection_notice() -> None:
    outcome = settle(
        due(language="en"), ConsentDecision(True, "existing_customer_exception"), sender=SENDER, default_language="de"
    )
    assert outcome.content is not None and outcome.content["language"] == "en"
    assert "object to the use of your e-mail address" in outcome.content["body"]


def test_unknown_language_falls_back_to_default() -> None:
    outcome = settle(due(language="fr"), ConsentDecision(True, "express_consent"), sender=SENDER, default_language="en")
    assert outcome.content is not None and outcome.content["language"] == "en"


def test_objection_suppresses_and_exits() -> None:
    outcome = settle(due(), ConsentDecision(False, None, "objection"), sender=SENDER, default_language="de")
    assert (outcome.status, outcome.reason, outcome.exits_enrollment) == ("suppressed", "objection", True)
    assert outcome.content is None


def test_no_consent_suppresses_without_exit() -> None:
    outcome = settle(due(), ConsentDecision(False, None, "no_consent"), sender=SENDER, default_language="de")
    assert (outcome.status, outcome.reason, outcome.exits_enrollment) == ("suppressed", "no_consent", False)


def test_missing_address_is_suppressed_without_asking() -> None:
    step = due(email=None)
    assert not has_address(step)
    outcome = settle(step, None, sender=SENDER, default_language="de")
    assert (outcome.status, outcome.reason) == ("suppressed", "no_address")
