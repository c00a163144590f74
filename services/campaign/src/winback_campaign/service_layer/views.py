"""Read models the HTTP API serves: actions, enrolments, playbooks."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import queries


class InvalidCursor(ValueError):
    """The cursor was not produced by this API."""


def encode_cursor(created_at: datetime, action_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), action_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, action_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), str(action_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not valid") from exc


async def actions_page(
    sessions: async_sessionmaker[AsyncSession],
    *,
    customer_id: str | None,
    playbook_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of actions, newest first, and the cursor of the next page (or None)."""
    after = decode_cursor(cursor) if cursor else None
    async with sessions() as session:
        rows = await queries.list_actions(
            session, customer_id=customer_id, playbook_id=playbook_id, status=status, limit=limit + 1, after=after
        )
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1]["created_at"], items[-1]["action_id"]) if more else None
    return {"items": items, "next_cursor": next_cursor}


async def enrollments_of(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> dict[str, Any]:
    async with sessions() as session:
        return {"items": await queries.customer_enrollments(session, customer_id)}
