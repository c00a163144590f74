"""Jinja2 in its sandbox for message templates, with Babel for money, dates, percentages and plurals.

Templates see only the named values of `VALUES`: the sandbox refuses attribute access to internals
(`name.__class__`), an unknown name is an error (StrictUndefined), and values are never evaluated.
The HTML part is autoescaped. Templates written for `string.Template` (`$name`, `${name}`) are
converted to Jinja2 (`{{ name }}`) when loaded or saved, so stored and shipped texts keep working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from html.parser import HTMLParser
from string import Template as LegacyTemplate
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import StrictUndefined, TemplateError, meta, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

# The values a template may use (what `templates.render` provides).
VALUES = frozenset(
    {
        "name",
        "sender",
        "address",
        "sender_email",
        "opt_out",
        "reason",
        "bought",
        "offer",
        "changes",
        "account_manager",
        "language",
        "due_on",
        "discount",
        "months",
    }
)
_JINJA_MARKERS = ("{{", "{%", "{#")


class TemplateProblem(ValueError):
    """A template that does not compile, uses unknown values, or would hide the opt-out or sender."""


def convert_legacy(text: str) -> str:
    """`$name`/`${name}` (string.Template) as `{{ name }}`; a text already in Jinja2 syntax stays as it is."""
    if "$" not in text or any(marker in text for marker in _JINJA_MARKERS):
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group("named") or match.group("braced")
        # `$$` was a literal `$`; a lone `$` stayed as it was (safe_substitute).
        return "{{ " + name + " }}" if name else "$"

    return LegacyTemplate.pattern.sub(replace, text)


@lru_cache(maxsize=8)
def _parsed_locale(language: str) -> Locale:
    return Locale.parse(language)


def _locale(context: Context) -> Locale:
    return _parsed_locale(str(context.get("language") or "de"))


@pass_context
def _money(context: Context, amount: Decimal | float | int, currency: str = "EUR") -> str:
    return str(format_currency(amount, currency, locale=_locale(context)))


@pass_context
def _number(context: Context, value: Decimal | float | int) -> str:
    return str(format_decimal(value, locale=_locale(context)))


@pass_context
def _percent(context: Context, fraction: Decimal | float | int) -> str:
    return str(format_percent(fraction, locale=_locale(context)))


@pass_context
def _date(context: Context, value: date | datetime, form: str = "long") -> str:
    return str(format_date(value, form, locale=_locale(context)))


@pass_context
def _plural(context: Context, count: int, one: str, other: str) -> str:
    """The word for `count` by the language's plural rule (CLDR via Babel): `{{ n | plural('Monat', 'Monate') }}`."""
    return one if _locale(context).plural_form(count) == "one" else other


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=_money, number=_number, percent=_percent, date=_date, plural=_plural)
    return env


_ENVIRONMENTS = {False: _environment(False), True: _environment(True)}


@lru_cache(maxsize=2048)
def compiled(source: str, html: bool = False) -> JinjaTemplate:
    """The compiled template (cached by its text); raises TemplateProblem naming the line."""
    env = _ENVIRONMENTS[html]
    try:
        unknown = meta.find_undeclared_variables(env.parse(source)) - VALUES
        if unknown:
            raise TemplateProblem(f"unknown values {sorted(unknown)} (known: {', '.join(sorted(VALUES))})")
        return env.from_string(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise TemplateProblem(f"{'line ' + str(line) + ': ' if line else ''}{exc.message or exc}") from exc


def render_part(source: str, values: Mapping[str, Any], *, html: bool = False) -> str:
    """Render one part; raises TemplateProblem (e.g. a sandbox refusal) instead of Jinja2's errors."""
    if not any(marker in source for marker in _JINJA_MARKERS):
        return source  # plain text renders as itself, escaped or not
    template = compiled(source, html)
    try:
        # A shared context holds the values only: no copy of the environment's globals per message.
        return "".join(template.root_render_func(template.new_context(dict(values), shared=True)))
    except TemplateError as exc:
        raise TemplateProblem(exc.message or str(exc)) from exc


class _Visible(HTMLParser):
    """What a mail client shows: text and link targets outside comments, scripts and hidden elements."""

    HIDDEN = frozenset({"script", "style", "head", "title", "template", "textarea", "noscript"})
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, bool]] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def _hidden(self) -> bool:
        return any(hidden for _, hidden in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        style = (attributes.get("style") or "").replace(" ", "").lower()
        hidden = tag in self.HIDDEN or "hidden" in attributes or "display:none" in style or "visibility:hidden" in style
        if tag == "a" and attributes.get("href") and not (hidden or self._hidden()):
            self.links.append(str(attributes["href"]))
        if tag not in self.VOID:
            self.open.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.text.append(data)


def visible_problem(html: str, opt_out: str, sender: str) -> str | None:
    """Why the opt-out link or the sender would not be visible in the rendered HTML, None when both are."""
    if html.rfind("<!--") > html.rfind("-->"):
        return "an HTML comment is never closed, it would hide the footer with the opt-out"
    parser = _Visible()
    parser.feed(html)
    parser.close()
    if opt_out not in parser.links:
        return "the opt-out link is not a visible link in the HTML part"
    if sender not in " ".join("".join(parser.text).split()):
        return "the sender is not named visibly in the HTML part"
    return None
