"""Contact identifiers: normalised, then kept only as keyed hashes (the suppression list never holds plain text)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

IdentifierKind = Literal["email", "phone", "postal"]
# Which stored identifier of the customer a channel reaches; fax numbers share the phone number space.
CHANNEL_IDENTIFIER: dict[str, str] = {
    "email": "email",
    "sms": "phone",
    "messenger": "phone",
    "phone": "phone",
    "automated_call": "phone",
    "fax": "fax",
    "post": "postal",
}
# Which identifier kind an imported blocking-list entry of a channel names.
IMPORT_KIND: dict[str, IdentifierKind] = {
    "email": "email",
    "sms": "phone",
    "messenger": "phone",
    "phone": "phone",
    "automated_call": "phone",
    "fax": "phone",
    "post": "postal",
}
DEFAULT_COUNTRY_CODE = "49"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STREET_SUFFIX = re.compile(r"(strasse|str\.?)(?=\s*\d|\s*$)")


class InvalidIdentifier(ValueError):
    """A value that cannot be normalised into an identifier of its kind."""


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidIdentifier("not an e-mail address")
    return email


def normalise_phone(value: str) -> str:
    """E.164-like `+<digits>`; national numbers (leading 0) get the German country code."""
    raw = value.strip().replace("(0)", "")
    if re.search(r"[^\d\s+()./-]", raw):
        raise InvalidIdentifier("a phone number holds only digits, spaces and + ( ) . / -")
    plus = raw.startswith("+")
    digits = re.sub(r"\D", "", raw)
    if not plus and digits.startswith("00"):
        digits = digits[2:]
    elif not plus and digits.startswith("0"):
        digits = DEFAULT_COUNTRY_CODE + digits[1:]
    if not 7 <= len(digits) <= 15:
        raise InvalidIdentifier("a phone number has 7 to 15 digits")
    return "+" + digits


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ß", "ss")
    return " ".join(folded.replace(",", " ").split())


def normalise_postal(value: Mapping[str, Any] | str) -> str:
    """`street|postal code|city`, case-folded, `Straße`/`Str.` unified, spacing and punctuation ignored."""
    if isinstance(value, str):
        # "Musterstraße 1, 12345 Berlin": the last comma separates street from postal code and city.
        street, sep, rest = value.rpartition(",")
        postal_code, _, city = rest.strip().partition(" ")
        if not sep:
            raise InvalidIdentifier("a postal address reads 'street number, postal code city'")
        value = {"street": street, "postal_code": postal_code, "city": city}
    street = _STREET_SUFFIX.sub("str", _fold(str(value.get("street") or "")))
    street = re.sub(r"[\s.\-]", "", street)
    postal_code = re.sub(r"\s", "", str(value.get("postal_code") or ""))
    city = re.sub(r"[\s.\-]", "", _fold(str(value.get("city") or "")))
    if not street or not postal_code or not city:
        raise InvalidIdentifier("a postal address needs street, postal code and city")
    return f"{street}|{postal_code}|{city}"


def keyed_hash(key: bytes, kind: IdentifierKind, normalised: str) -> str:
    """HMAC-SHA256: without the key, a leaked list cannot be matched against guessed addresses."""
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def hash_value(key: bytes, kind: IdentifierKind, value: Any) -> str:
    """Normalise `value` as `kind` and hash it; raises InvalidIdentifier."""
    if kind == "email":
        normalised = normalise_email(str(value))
    elif kind == "phone":
        normalised = normalise_phone(str(value))
    else:
        normalised = normalise_postal(value if isinstance(value, Mapping) else str(value))
    return keyed_hash(key, kind, normalised)


@dataclass(frozen=True, slots=True)
class ContactHashes:
    """The keyed hashes of a customer's current contact identifiers (None: not on file or unreadable)."""

    email: str | None = None
    phone: str | None = None
    fax: str | None = None
    postal: str | None = None

    def present(self) -> list[tuple[IdentifierKind, str]]:
        kinds: list[tuple[IdentifierKind, str | None]] = [
            ("email", self.email),
            ("phone", self.phone),
            ("phone", self.fax),
            ("postal", self.postal),
        ]
        return [(k, h) for k, h in kinds if h is not None]


def _safe(key: bytes, kind: IdentifierKind, value: Any) -> str | None:
    if value in (None, "", {}):
        return None
    try:
        return hash_value(key, kind, value)
    except InvalidIdentifier:
        return None


def contact_hashes(
    key: bytes, email: str | None, phone: str | None, fax: str | None, postal: Mapping[str, Any] | None
) -> ContactHashes:
    return ContactHashes(
        email=_safe(key, "email", email),
        phone=_safe(key, "phone", phone),
        fax=_safe(key, "phone", fax),
        postal=_safe(key, "postal", postal),
    )


def suppressions_by_channel(listed: Mapping[str, datetime]) -> dict[str, datetime]:
    """Identifier (`email`, `phone`, `fax`, `postal`) -> listing time, turned into channel -> listing time."""
    return {channel: listed[ident] for channel, ident in CHANNEL_IDENTIFIER.items() if ident in listed}
