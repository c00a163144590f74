"""Message templates in German and English; every advertising message names the sender and an opt-out."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import Any


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    name: str
    address: str
    email: str
    opt_out_base_url: str


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str | None
    email: str | None
    language: str | None
    kind: str | None = None


TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "we_miss_you": {
        "de": (
            "Wir vermissen Sie, $name",
            "Hallo $name,\n\nschade, dass Sie gegangen sind. Erzählen Sie uns, was nicht gepasst hat - "
            "wir kümmern uns darum.\n\nIhr Team von $sender",
        ),
        "en": (
            "We miss you, $name",
            "Hello $name,\n\nwe are sorry to see you go. Tell us what went wrong and we will fix it.\n\n"
            "Your team at $sender",
        ),
    },
}

FOOTER = {
    "de": "$sender, $address, $sender_email. Keine weiteren Nachrichten: $opt_out",
    "en": "$sender, $address, $sender_email. No more messages: $opt_out",
}

# The §7(3) UWG exception requires repeating at every use that the customer may object.
OBJECTION_NOTICE = {
    "de": "Sie können der Verwendung Ihrer E-Mail-Adresse für Werbung jederzeit widersprechen, "
    "ohne dass andere als die Übermittlungskosten nach den Basistarifen entstehen.",
    "en": "You may object to the use of your e-mail address for advertising at any time, "
    "at no cost other than the transmission costs at basic rates.",
}

SALUTATION = {"de": "Kundin, lieber Kunde", "en": "customer"}


def language_of(recipient: Recipient, default: str) -> str:
    lang = (recipient.language or "").lower()[:2]
    return lang if lang in ("de", "en") else default


def render(
    template: str,
    recipient: Recipient,
    sender: SenderIdentity,
    *,
    action_id: str,
    consent_basis: str | None,
    default_language: str,
) -> dict[str, Any]:
    """Subject, body and footer of one message, in the customer's language."""
    lang = language_of(recipient, default_language)
    subject, body = TEMPLATES[template][lang]
    opt_out = f"{sender.opt_out_base_url.rstrip('/')}/{action_id}"
    values = {
        "name": recipient.name or SALUTATION[lang],
        "sender": sender.name,
        "address": sender.address,
        "sender_email": sender.email,
        "opt_out": opt_out,
    }
    footer = Template(FOOTER[lang]).safe_substitute(values)
    if consent_basis == "existing_customer_exception":
        footer = f"{OBJECTION_NOTICE[lang]}\n{footer}"
    return {
        "language": lang,
        "subject": Template(subject).safe_substitute(values),
        "body": f"{Template(body).safe_substitute(values)}\n\n--\n{footer}",
        "sender": {"name": sender.name, "address": sender.address, "email": sender.email},
        "opt_out_url": opt_out,
    }
