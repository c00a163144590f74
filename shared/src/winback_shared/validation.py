"""The one rule for every string and time that enters the system (events, paths, queries, bodies).

PostgreSQL cannot store a NUL character in text or jsonb, and a lone surrogate is not Unicode at
all (it cannot be encoded as UTF-8, not even into the 422 that names it). Input holding either is
refused where it enters, with the field named, before anything is acknowledged; so a consumer
never meets an event it cannot apply. Times must be RFC 3339 with an offset (an integer Unix time
is ambiguous in unit and not what the contract says) and lie within years 1-9999 in UTC: Python,
PostgreSQL and every consumer overflow outside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# Any one string of an event or a request body; identifiers have tighter limits of their own.
MAX_TEXT_CHARS = 10_000
# A path segment or query value: ids, filters, cursors.
MAX_PARAM_CHARS = 2_048
# Nesting of free-form JSON (attributes, evidence, items): deeper is an attack, not data.
MAX_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")
# The offset is optional here only so that its absence gets the type's own, clearer error.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?$")

Location = tuple[str | int, ...]


def text_problem(value: str, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Why `value` may not enter the system, or None when it may."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which cannot be stored"
    # A string from JSON keeps a surrogate only when it had no partner: valid pairs were joined.
    if not value.isascii() and _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate, which is not valid Unicode"
    if len(value) > max_chars:
        return f"is longer than {max_chars} characters"
    return None


def text_problems(value: Any, loc: Location = (), *, depth: int = 0) -> Iterator[tuple[Location, str]]:
    """Every string (keys included) in a decoded JSON value that breaks the rule, with its location."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            yield loc, problem
    elif isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            yield loc, f"is nested deeper than {MAX_DEPTH} levels"
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and (problem := text_problem(key, MAX_PARAM_CHARS)) is not None:
                yield (*loc, key), f"key {problem}"
                continue
            yield from text_problems(item, (*loc, key), depth=depth + 1)


def text_acceptable(value: Any, depth: int = 0) -> bool:
    """Whether `text_problems(value)` finds nothing: the common case, answered without building the
    location of every string it passes (about half of the walk's cost on a 1,000-event batch)."""
    if isinstance(value, str):
        return text_problem(value) is None
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return False
        for key, item in value.items():
            if isinstance(key, str) and text_problem(key, MAX_PARAM_CHARS) is not None:
                return False
            if not text_acceptable(item, depth + 1):
                return False
        return True
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return False
        return all(text_acceptable(item, depth + 1) for item in value)
    return True


def time_problem(value: datetime) -> str | None:
    """Why an aware time is unusable (outside years 1-9999 once in UTC), or None."""
    if 1 < value.year < 9999:
        # An offset is less than a day: only years 1 and 9999 can leave the range (every event's time passes here).
        return None
    try:
        value.astimezone(UTC)
    except OverflowError:
        return "lies outside years 1-9999 in UTC"
    return None


def rfc3339_problem(value: object) -> str | None:
    """Why a raw JSON value is not an RFC 3339 date-time with offset, or None."""
    if isinstance(value, datetime):
        return None if value.tzinfo is not None else "has no UTC offset"
    if not isinstance(value, str):
        return "must be an RFC 3339 date-time string with offset, e.g. 2025-01-31T09:00:00+01:00 (not a Unix time)"
    if not RFC3339.match(value):
        return "is not an RFC 3339 date-time with offset, e.g. 2025-01-31T09:00:00+01:00"
    return None
