"""Contact identifiers: normalised, then kept only as keyed hashes (the suppression list never holds plain text).

E-mail addresses are normalised by `email-validator` (syntax only, no DNS lookup), phone numbers by
`phonenumbers` (E.164, national numbers read as German). Hash scheme 2; scheme 1 (before migration
0005) was hand-written and lives on in `legacy_contacts.py` only to carry old listings over.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from winback_consent.domain.legacy_contacts import legacy_email, legacy_phone

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
DEFAULT_REGION = "DE"  # where a number without country code is dialled
_PHONE_CHARACTERS = re.compile(r"^[\d\s+()./-]+$")
_STREET_SUFFIX = re.compile(r"(strasse|str\.?)(?=\s*\d|\s*$)")


class InvalidIdentifier(ValueError):
    """A value that cannot be normalised into an identifier of its kind."""


# The libraries cost ~60-70 us a value; a batch hashes each value twice (current and scheme 1 pairs)
# and customers' updates repeat their identifiers.
@lru_cache(maxsize=65_536)
def normalise_email(value: str) -> str:
    """email-validator's normalised form (IDNA domain, NFC), lower-cased as a whole; no DNS lookup."""
    try:
        normalized = validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidIdentifier("not an e-mail address") from exc
    # The local part is case-sensitive by the RFC, but no provider treats it so: a listing must not
    # miss an address because of its capitals.
    return normalized.lower()


@lru_cache(maxsize=65_536)
def normalise_phone(value: str) -> str:
    """E.164 (`+4930...`); a number without country code is German."""
    # Letters would be read as a vanity number ("0800 FLOWERS") or an extension: neither identifies a line.
    if not _PHONE_CHARACTERS.match(value.strip()):
        raise InvalidIdentifier("a phone number holds only digits, spaces and + ( ) . / -")
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("not a phone number") from exc
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidIdentifier("not a possible phone number (wrong length for its country)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


_LEGACY = {"email": legacy_email, "phone": legacy_phone}


def legacy_hash(key: bytes, kind: IdentifierKind, value: Any) -> str | None:
    """The scheme-1 hash of an e-mail or phone value (postal addresses kept their normalisation), or None."""
    legacy = _LEGACY.get(kind)
    normalised = legacy(str(value)) if legacy is not None and value else None
    return keyed_hash(key, kind, normalised) if normalised is not None else None


def _safe(key: bytes, kind: IdentifierKind, value: Any) -> str | None:
    """The value's hash; the scheme-1 hash where the libraries refuse a value the old rules took, so a
    listing made of it still matches (fail closed); None when neither reads it."""
    if value in (None, "", {}):
        return None
    try:
        return hash_value(key, kind, value)
    except InvalidIdentifier:
        return legacy_hash(key, kind, value)


def contact_hashes(
    key: bytes, email: str | None, phone: str | None, fax: str | None, postal: Mapping[str, Any] | None
) -> ContactHashes:
    return ContactHashes(
        email=_safe(key, "email", email),
        phone=_safe(key, "phone", phone),
        fax=_safe(key, "phone", fax),
        postal=_safe(key, "postal", postal),
    )


def legacy_pairs(
    key: bytes, email: str | None, phone: str | None, fax: str | None
) -> list[tuple[IdentifierKind, str, str]]:
    """(kind, scheme-1 hash, current hash) of each identifier the two schemes hash differently.

    A listing stored under the scheme-1 hash is copied to the current hash when the raw value is seen.
    """
    pairs: list[tuple[IdentifierKind, str, str]] = []
    identifiers: tuple[tuple[IdentifierKind, str | None], ...] = (("email", email), ("phone", phone), ("phone", fax))
    for kind, value in identifiers:
        old, new = legacy_hash(key, kind, value), _safe(key, kind, value)
        if old is not None and new is not None and old != new:
            pairs.append((kind, old, new))
    return pairs


def suppressions_by_channel(listed: Mapping[str, datetime]) -> dict[str, datetime]:
    """Identifier (`email`, `phone`, `fax`, `postal`) -> listing time, turned into channel -> listing time."""
    if not listed:  # nearly every customer: none of their identifiers is listed
        return {}
    return {channel: listed[ident] for channel, ident in CHANNEL_IDENTIFIER.items() if ident in listed}
