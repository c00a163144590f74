"""Hash scheme 1: the hand-written normalisation that suppression hashes were made with before 0005.

Frozen: only keyed hashes are stored, so a listing made under these rules can be matched only by
normalising the same raw value the same way again. `contacts.legacy_pairs` uses it to carry such a
listing over to the current scheme's hash whenever the raw value is seen (migration 0005 for the
stored profiles, the consumer for later ones). Never used to make a new listing.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def legacy_email(value: str) -> str | None:
    """Trimmed and lower-cased, if it looked like an address."""
    email = value.strip().lower()
    return email if _EMAIL.match(email) else None


def legacy_phone(value: str) -> str | None:
    """`+<digits>`: `(0)` dropped, `00` meaning `+`, a leading `0` meaning Germany `+49`; 7 to 15 digits."""
    raw = value.strip().replace("(0)", "")
    if re.search(r"[^\d\s+()./-]", raw):
        return None
    plus = raw.startswith("+")
    digits = re.sub(r"\D", "", raw)
    if not plus and digits.startswith("00"):
        digits = digits[2:]
    elif not plus and digits.startswith("0"):
        digits = "49" + digits[1:]
    return "+" + digits if 7 <= len(digits) <= 15 else None
