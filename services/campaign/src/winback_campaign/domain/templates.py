"""Message templates in German and English, rendered sandboxed: only named values, no code, no attributes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    name: str
    address: str
    email: str
    opt_out_base_url: str
    opt_out_secret: str = "dev-opt-out-secret"


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str | None
    email: str | None
    language: str | None
    kind: str | None = None
    phone: str | None = None
    postal_address: dict[str, Any] | None = None
    account_manager: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Personalisation:
    """What the message says about this customer beyond the profile."""

    reason: str | None = None
    offer: str | None = None
    changes: str | None = None


LANGUAGES = ("de", "en")
# The only names a template may use: string.Template substitutes values, never evaluates anything.
PLACEHOLDERS = frozenset(
    {"name", "sender", "address", "sender_email", "opt_out", "reason", "bought", "offer", "changes", "account_manager"}
)


def _placeholders(text: str) -> set[str]:
    return {
        m.group("named") or m.group("braced")
        for m in Template.pattern.finditer(text)
        if m.group("named") or m.group("braced")
    }


@cache
def catalogue() -> dict[str, Any]:
    """The shipped templates, phrases and footers, checked once on load."""
    raw = yaml.safe_load(resources.files("winback_campaign.defaults").joinpath("templates.yaml").read_text("utf-8"))
    for name, languages in raw["templates"].items():
        for lang in LANGUAGES:
            for part in ("subject", "body"):
                unknown = _placeholders(languages[lang][part]) - PLACEHOLDERS
                if unknown:
                    raise ValueError(f"template {name}.{lang}.{part} uses unknown placeholders {sorted(unknown)}")
    return dict(raw)


def known_template(name: str) -> bool:
    return name in catalogue()["templates"]


def language_of(recipient: Recipient, default: str) -> str:
    lang = (recipient.language or "").lower()[:2]
    return lang if lang in LANGUAGES else default


def opt_out_token(action_id: str, secret: str) -> str:
    """The action id with a MAC, so the public unsubscribe link cannot be forged for other customers."""
    mac = hmac.new(secret.encode(), action_id.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{action_id}.{mac}"


def verify_opt_out_token(token: str, secret: str) -> str | None:
    """The action id of a genuine token, else None."""
    action_id, _, _ = token.rpartition(".")
    if not action_id:
        return None
    # Bytes: compare_digest refuses a str that is not ASCII with a TypeError (a 500 on a public link).
    genuine = hmac.compare_digest(opt_out_token(action_id, secret).encode(), token.encode("utf-8", "replace"))
    return action_id if genuine else None


def _phrase(kind: str, key: str | None, lang: str) -> str:
    table = catalogue()["phrases"][kind]
    return str(table.get(key or "", table["_default"])[lang])


def render(
    template: str,
    recipient: Recipient,
    sender: SenderIdentity,
    *,
    action_id: str,
    consent_basis: str | None,
    default_language: str,
    personal: Personalisation | None = None,
) -> dict[str, Any]:
    """Subject, body and footer of one message in the customer's language, with sender and opt-out."""
    personal = personal or Personalisation()
    lang = language_of(recipient, default_language)
    texts = catalogue()["templates"][template][lang]
    opt_out = f"{sender.opt_out_base_url.rstrip('/')}/{opt_out_token(action_id, sender.opt_out_secret)}"
    values = {
        "name": recipient.name or catalogue()["salutation"][lang],
        "sender": sender.name,
        "address": sender.address,
        "sender_email": sender.email,
        "opt_out": opt_out,
        "reason": _phrase("reasons", personal.reason, lang),
        "offer": _phrase("offers", personal.offer, lang),
        "bought": ", ".join(recipient.categories) or catalogue()["bought_default"][lang],
        "changes": personal.changes or catalogue()["changes_default"][lang],
        "account_manager": recipient.account_manager or catalogue()["account_manager_default"][lang],
    }
    footer = Template(catalogue()["footer"][lang]).safe_substitute(values)
    if consent_basis == "existing_customer_exception":
        # §7(3) UWG: the notice that the customer may object is repeated at every use.
        footer = f"{catalogue()['objection_notice'][lang]}\n{footer}"
    return {
        "language": lang,
        "subject": Template(texts["subject"]).safe_substitute(values),
        "body": f"{Template(texts['body']).safe_substitute(values)}\n\n--\n{footer}",
        "sender": {"name": sender.name, "address": sender.address, "email": sender.email},
        "opt_out_url": opt_out,
    }
