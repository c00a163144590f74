"""What happens to a due step: ask consent, then trigger or suppress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from winback_campaign.domain.ids import action_id_for
from winback_campaign.domain.template_engine import TemplateProblem
from winback_campaign.domain.templates import Personalisation, Recipient, SenderIdentity, render

# Denials that mean the customer does not want to hear from us: the enrolment ends.
EXITING_DENIALS = frozenset({"objection", "no_contact_requested"})

# The profile field a channel needs to reach the customer.
ADDRESS_FIELD = {"email": "email", "sms": "phone", "phone": "phone", "messenger": "phone", "post": "postal_address"}


@dataclass(frozen=True, slots=True)
class DueStep:
    """A pending step whose time has come, with what is needed to act on it."""

    enrollment_id: str
    step_id: str
    customer_id: str
    playbook_id: str
    variant: str
    channel: str
    template: str
    offer: str | None
    offer_category: str | None
    due_at: datetime
    recipient: Recipient
    assignee: str | None = None
    churn_reason: str | None = None
    feature: str | None = None
    time_zone: str | None = None
    # German state for its public holidays (domain/regions.py); None: nationwide holidays only.
    state: str | None = None
    # The playbook version's own template of this name ({de: {subject, body, html?}, en: ...}), if it has one.
    message: dict[str, Any] | None = None
    # The event the enrolment rests on (applied here before it enrolled), and how often the step
    # was kept pending because consent had not applied it yet.
    caused_by: tuple[str, str] | None = None
    wait_attempts: int = 0


class ConsentUnavailable(Exception):
    """No usable answer from consent (down, timeout, 5xx, malformed): nothing may be sent."""


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    request_id: str
    customer_id: str
    channel: str
    offer_category: str | None = None
    # Consent answers "not yet" until it has applied this event.
    caused_by: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    allowed: bool
    basis: str | None = None
    reason: str | None = None
    evidence_ids: tuple[str, ...] = field(default_factory=tuple)
    # "Not yet": consent has not applied the event the request named; neither ALLOW nor DENY.
    pending: bool = False


def has_address(step: DueStep) -> bool:
    """Whether the channel can reach the customer with the profile we have."""
    attr = ADDRESS_FIELD.get(step.channel)
    return attr is None or bool(getattr(step.recipient, attr))


def exits_enrollment(decision: ConsentDecision) -> bool:
    return not decision.allowed and decision.reason in EXITING_DENIALS


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """The settled action of one due step."""

    action_id: str
    step: DueStep
    status: str  # triggered | suppressed
    reason: str | None
    content: dict[str, Any] | None
    recipient: dict[str, Any] | None
    consent: dict[str, Any] | None
    exits_enrollment: bool


def recipient_of(step: DueStep) -> dict[str, Any]:
    """Who receives the action on its channel; a phone step is a task for a person."""
    r = step.recipient
    if step.channel == "email":
        return {"email": r.email, "name": r.name}
    if step.channel == "post":
        return {"name": r.name, "postal_address": r.postal_address}
    if step.channel == "phone":
        return {"name": r.name, "phone": r.phone, "assignee": step.assignee, "account_manager": r.account_manager}
    return {"name": r.name, "phone": r.phone}


def settle(
    step: DueStep,
    decision: ConsentDecision | None,
    *,
    sender: SenderIdentity,
    default_language: str,
    action_id: str | None = None,
) -> ActionOutcome:
    """Trigger on ALLOW, suppress on DENY; no decision means the channel has no address."""
    action_id = action_id or action_id_for(step.enrollment_id, step.step_id)
    if decision is None:
        return ActionOutcome(action_id, step, "suppressed", "no_address", None, None, None, False)
    if not decision.allowed:
        reason = decision.reason or "denied"
        consent = {"basis": None, "reason": reason, "evidence_ids": list(decision.evidence_ids)}
        return ActionOutcome(action_id, step, "suppressed", reason, None, None, consent, exits_enrollment(decision))
    try:
        content = render(
            step.template,
            step.recipient,
            sender,
            action_id=action_id,
            consent_basis=decision.basis,
            default_language=default_language,
            personal=Personalisation(reason=step.churn_reason, offer=step.offer, changes=step.feature),
            own=step.message,
            channel=step.channel,
            due_on=step.due_at.date(),
        )
    except TemplateProblem:
        # Checked when saved, so not expected; a message that cannot be rendered is never sent half-made.
        return ActionOutcome(action_id, step, "suppressed", "template_error", None, None, None, False)
    if step.channel == "phone":
        content["task"] = {"type": "call", "assignee": step.assignee, "account_manager": step.recipient.account_manager}
    if step.offer is not None:
        content["offer"] = step.offer
    consent = {"basis": decision.basis, "evidence_ids": list(decision.evidence_ids)}
    return ActionOutcome(action_id, step, "triggered", None, content, recipient_of(step), consent, False)
