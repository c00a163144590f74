"""German and English words of the console; which language a user gets; dates and money by locale."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from winback_console.domain.words import WORDS

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
# Babel locales used for formats: German dates and euros for `de`, British English for `en` (day first, €).
_LOCALES = {"de": "de_DE", "en": "en_GB"}
# Dates and times are shown in this zone (WINBACK_DISPLAY_TIME_ZONE), with its name.
DEFAULT_TIME_ZONE = "Europe/Berlin"
_MINUTES = {"de": "dd.MM.yyyy, HH:mm zzz", "en": "d MMM yyyy, HH:mm zzz"}
# What a missing value shows: an en dash.
NONE = "\u2013"


def negotiate(accept_language: str | None) -> str:
    """The first of our languages the browser asks for (Accept-Language, by q-value), else German."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        try:
            language = Locale.parse(tag.strip().replace("-", "_")).language if tag.strip() != "*" else ""
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES and q > 0:
            ranked.append((-q, position, language))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE


class Translator:
    """The words and formats of one language, handed to the templates as `t`, `money`, `when`, ..."""

    def __init__(self, language: str, time_zone: str = DEFAULT_TIME_ZONE) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._locale = _LOCALES[self.language]
        self.zone = ZoneInfo(time_zone)

    def __call__(self, key: str, **values: object) -> str:
        entry = WORDS.get(key)
        text = key if entry is None else entry[0 if self.language == "en" else 1]
        return text.format(**values) if values else text

    def money(self, amount: object) -> str:
        """A decimal string of the APIs as euros; a dash when absent."""
        if amount is None or amount == "":
            return NONE
        try:
            return format_currency(Decimal(str(amount)), "EUR", locale=self._locale)
        except (InvalidOperation, ValueError):
            return str(amount)

    def code(self, kind: str, value: object) -> str:
        """A code of the APIs (`reason`, `status`, `channel`, `basis`) in words; unknown codes as they are."""
        if value is None or value == "":
            return NONE
        entry = WORDS.get(f"{kind}.{value}")
        return str(value) if entry is None else entry[0 if self.language == "en" else 1]

    def count(self, key: str, n: int) -> str:
        """`key.one` for exactly one, `key` otherwise (both languages plural the same way here)."""
        return self(f"{key}.one" if n == 1 and f"{key}.one" in WORDS else key, n=n)

    def number(self, value: object, digits: int = 2) -> str:
        """A number with exactly `digits` decimals, grouped as the language does."""
        if value is None:
            return NONE
        try:
            pattern = "#,##0" + ("." + "0" * digits if digits else "")
            return format_decimal(float(str(value)), format=pattern, locale=self._locale)
        except ValueError:
            return str(value)

    def sender(self, value: object) -> str:
        """A message's sender identity (`{name, address, email}` or text) as one line."""
        if not isinstance(value, dict):
            return NONE if not value else str(value)
        parts = [self.address(v) if isinstance(v, dict) else str(v) for v in value.values() if v]
        return ", ".join(parts) or NONE

    def address(self, value: object) -> str:
        """A postal address object as one line: street, postal code and city, country."""
        if not isinstance(value, dict):
            return NONE if not value else str(value)
        city = " ".join(str(value[k]) for k in ("postal_code", "city") if value.get(k))
        parts = [str(value[k]) for k in ("name", "street") if value.get(k)] + ([city] if city else [])
        if value.get("country"):
            parts.append(str(value["country"]))
        return ", ".join(parts) or NONE

    def percent(self, value: object) -> str:
        if value is None:
            return NONE
        try:
            return format_percent(float(str(value)), format="#,##0.#%", locale=self._locale)
        except ValueError:
            return str(value)

    def when(self, value: object, *, with_time: bool = True) -> str:
        """An RFC 3339 timestamp as the user's locale writes it (in UTC, said so)."""
        if not value:
            return NONE
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(self.zone)
        if not with_time:
            return format_date(local, "medium", locale=self._locale)
        # Minutes are enough for people; the zone is named, so a UTC timestamp is never taken for local.
        return format_datetime(local, _MINUTES[self.language], tzinfo=self.zone, locale=self._locale)

    def day(self, value: object) -> str:
        return self.when(value, with_time=False)
