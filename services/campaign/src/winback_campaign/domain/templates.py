"""Message templates in German and English: rendered in Jinja2's sandbox, with sender identity and opt-out.

Every message ends with the footer (sender, address, e-mail, opt-out link; the §7(3) notice where it
applies), in the text part and, for e-mail, in the HTML part; a template cannot leave it out, and a
template whose HTML would hide it is refused when it is saved (`template_problem`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml
from markupsafe import Markup, escape

from winback_campaign.domain.offers import is_discount, parse_offer
from winback_campaign.domain.template_engine import TemplateProblem, convert_legacy, render_part, visible_problem


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
PARTS = ("subject", "body", "html")
# A discount is a limited introductory rate: this many months (policy of the shipped offers).
DISCOUNT_MONTHS = 3


def _converted(parts: Mapping[str, Any]) -> dict[str, str]:
    return {part: convert_legacy(str(parts[part])) for part in PARTS if parts.get(part) is not None}


@cache
def catalogue() -> dict[str, Any]:
    """The shipped templates, phrases and footers, converted and checked once on load."""
    raw = yaml.safe_load(resources.files("winback_campaign.defaults").joinpath("templates.yaml").read_text("utf-8"))
    raw["templates"] = {
        name: {lang: _converted(languages[lang]) for lang in LANGUAGES} for name, languages in raw["templates"].items()
    }
    for name, languages in raw["templates"].items():
        problem = template_problem(languages, shipped=raw)
        if problem is not None:
            raise ValueError(f"template {name}.{problem}")
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


def _phrase(kind: str, key: str | None, lang: str, values: Mapping[str, Any], shipped: Mapping[str, Any]) -> str:
    table = shipped["phrases"][kind]
    if kind == "offers" and key and is_discount(key):
        key = "_discount"
    return render_part(str(table.get(key or "", table["_default"])[lang]), values)


def _values(
    recipient: Recipient,
    sender: SenderIdentity,
    opt_out: str,
    lang: str,
    personal: Personalisation,
    due_on: date,
    shipped: Mapping[str, Any],
) -> dict[str, Any]:
    """The named values a template may use (`template_engine.VALUES`), in the customer's language."""
    # Offers are validated with the playbook, so a discount's percent parses.
    percent = parse_offer(personal.offer).percent if personal.offer and is_discount(personal.offer) else 0
    values: dict[str, Any] = {
        "language": lang,
        "name": recipient.name or shipped["salutation"][lang],
        "sender": sender.name,
        "address": sender.address,
        "sender_email": sender.email,
        "opt_out": opt_out,
        "bought": ", ".join(recipient.categories) or shipped["bought_default"][lang],
        "changes": personal.changes or shipped["changes_default"][lang],
        "account_manager": recipient.account_manager or shipped["account_manager_default"][lang],
        "due_on": due_on,
        "discount": Decimal(percent) / 100,
        "months": DISCOUNT_MONTHS,
    }
    values["reason"] = _phrase("reasons", personal.reason, lang, values, shipped)
    values["offer"] = _phrase("offers", personal.offer, lang, values, shipped)
    return values


def _paragraphs(text: str) -> str:
    """A plain-text part as HTML: escaped, blank lines as paragraphs, line breaks kept."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{escape(p).replace(chr(10), Markup('<br>'))}</p>" for p in paragraphs)  # chr(10): newline


def _html_document(body: str, footer: str, lang: str) -> str:
    """The template's HTML with the footer before `</body>`, or a whole document around both."""
    closing = body.lower().rfind("</body>")
    if closing >= 0:
        return f"{body[:closing]}{footer}{body[closing:]}"
    return f'<!DOCTYPE html>\n<html lang="{lang}"><body>{body}{footer}</body></html>'


def render(
    template: str,
    recipient: Recipient,
    sender: SenderIdentity,
    *,
    action_id: str,
    consent_basis: str | None,
    default_language: str,
    personal: Personalisation | None = None,
    due_on: date,
    own: Mapping[str, Any] | None = None,
    channel: str = "email",
) -> dict[str, Any]:
    """Subject, body and footer of one message in the customer's language, with sender and opt-out.

    `own` is the playbook's own template of that name (it wins over the shipped one); e-mail adds an
    HTML part (the template's `html`, or its text as paragraphs), with the same footer. Raises
    TemplateProblem when the template cannot be rendered.
    """
    shipped = catalogue()
    lang = language_of(recipient, default_language)
    parts = _converted((own or shipped["templates"][template])[lang])
    opt_out = f"{sender.opt_out_base_url.rstrip('/')}/{opt_out_token(action_id, sender.opt_out_secret)}"
    values = _values(recipient, sender, opt_out, lang, personal or Personalisation(), due_on, shipped)
    footer = render_part(shipped["footer"][lang], values)
    footer_html = render_part(shipped["footer_html"][lang], values, html=True)
    if consent_basis == "existing_customer_exception":
        # §7(3) UWG: the notice that the customer may object is repeated at every use.
        notice = shipped["objection_notice"][lang]
        footer = f"{notice}\n{footer}"
        footer_html = f"<p>{escape(notice)}</p>{footer_html}"
    text = render_part(parts["body"], values)
    content: dict[str, Any] = {
        "language": lang,
        "subject": render_part(parts["subject"], values),
        "body": f"{text}\n\n--\n{footer}",
        "sender": {"name": sender.name, "address": sender.address, "email": sender.email},
        "opt_out_url": opt_out,
    }
    if channel == "email":
        html = render_part(parts["html"], values, html=True) if "html" in parts else _paragraphs(text)
        content["html"] = _html_document(html, footer_html, lang)
    return content


SAMPLE_SENDER = SenderIdentity(
    "Sample Sender GmbH", "Samplestr. 1, 10115 Berlin", "hi@sender.example", "https://o.example"
)
SAMPLE_DATE = date(2026, 1, 15)


def template_problem(languages: Mapping[str, Any], shipped: Mapping[str, Any] | None = None) -> str | None:
    """Why a template (`{de: {subject, body, html?}, en: ...}`) cannot be used, as `<lang>.<part>: ...`.

    Each part must compile in the sandbox and render with sample values; the rendered HTML must show
    the opt-out link and the sender (the text part always ends with them).
    """
    shipped = shipped or catalogue()
    for lang in LANGUAGES:
        parts = languages.get(lang)
        if not isinstance(parts, Mapping) or not parts.get("subject") or not parts.get("body"):
            return f"{lang}: needs a subject and a body"
        parts = _converted(parts)
        recipient = Recipient(name="Sample", email="sample@example.org", language=lang)
        opt_out = f"https://o.example/{opt_out_token('sample', SAMPLE_SENDER.opt_out_secret)}"
        values = _values(
            recipient, SAMPLE_SENDER, opt_out, lang, Personalisation("price", "discount_10"), SAMPLE_DATE, shipped
        )
        for part in parts:
            try:
                rendered = render_part(parts[part], values, html=part == "html")
            except TemplateProblem as exc:
                return f"{lang}.{part}: {exc}"
            if part == "html":
                footer = render_part(shipped["footer_html"][lang], values, html=True)
                problem = visible_problem(_html_document(rendered, footer, lang), opt_out, SAMPLE_SENDER.name)
                if problem is not None:
                    return f"{lang}.html: {problem}"
    return None
