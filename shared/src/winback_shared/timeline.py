"""A customer timeline merged from several tables: newest first, paged with an opaque `before`.

Each source yields rows with `at` and a key unique within the timeline (e.g. `order:o-1`); the
page is ordered by (at, key) descending and `before` names the last item shown. Keys are compared
in SQL with `COLLATE "C"` (byte order), the order Python sorts strings in, so a page boundary falls
between the same two items on both sides.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Keys are a type prefix and an id of at most a few hundred characters.
MAX_KEY = 1024


class InvalidBefore(ValueError):
    """The `before` value was not issued by this API."""


@dataclass(frozen=True, slots=True)
class Before:
    """The position of the last item of the previous page: items strictly older follow."""

    at: datetime
    key: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One timeline item: when, its unique key, and the item as the API shows it."""

    at: datetime
    key: str
    item: dict[str, Any]


def encode_before(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_before(value: str) -> Before:
    """The position a `next_before` names; InvalidBefore for anything else."""
    try:
        at, key = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        moment = moment.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise InvalidBefore(f"before {value[:40]!r} is not a next_before this API issued") from exc
    # Checked here because the value is decoded after the request's own text rule ran: no NUL reaches SQL.
    if not isinstance(key, str) or len(key) > MAX_KEY or "\x00" in key:
        raise InvalidBefore(f"before {value[:40]!r} is not a next_before this API issued")
    return Before(moment, key)


def page(entries: Iterable[Entry], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """The newest `limit` items of the merged sources and the `next_before` (None on the last page).

    Each source must have returned its newest `limit + 1` rows before the position, so the merge
    knows whether anything older follows.
    """
    ordered = sorted(entries, key=lambda e: (e.at, e.key), reverse=True)
    shown = ordered[:limit]
    more = len(ordered) > limit
    items = [{"at": e.at.isoformat(), **e.item} for e in shown]
    return items, encode_before(shown[-1].at, shown[-1].key) if more and shown else None


def older_than(at: ColumnElement[Any], key: ColumnElement[str], before: Before | None) -> ColumnElement[bool]:
    """SQL: the row lies after `before` in the timeline's order (everything when None)."""
    if before is None:
        return true()
    ordered_key = key.collate("C")
    return or_(at < before.at, and_(at == before.at, ordered_key < before.key))


def newest_first(at: ColumnElement[Any], key: ColumnElement[str]) -> tuple[ColumnElement[Any], ...]:
    """SQL ORDER BY of a timeline source, matching `page`."""
    return at.desc(), key.collate("C").desc()
