"""SQL of webhook deliveries: written with the actions, claimed by the deliverer; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import webhook_deliveries
from winback_campaign.domain.webhooks import Settled

W = webhook_deliveries
INSERT = text(
    f"INSERT INTO {W.fullname} (action_id, channel, url, payload, status, attempts, next_attempt_at, created_at, "
    "updated_at) SELECT u.action_id, u.channel, u.url, u.payload, 'pending', 0, :now, :now, :now "
    "FROM unnest(CAST(:action_id AS varchar[]), CAST(:channel AS varchar[]), CAST(:url AS text[]), "
    "CAST(:payload AS bytea[])) AS u(action_id, channel, url, payload) ON CONFLICT (action_id) DO NOTHING"
)
RECORD = text(
    f"UPDATE {W.fullname} AS w SET status = u.status, attempts = u.attempts, next_attempt_at = u.next_at, "
    "last_error = coalesce(u.error, w.last_error), updated_at = :now "
    "FROM unnest(CAST(:id AS bigint[]), CAST(:status AS varchar[]), CAST(:attempts AS int[]), "
    "CAST(:next_at AS timestamptz[]), CAST(:error AS text[])) AS u(id, status, attempts, next_at, error) "
    "WHERE w.delivery_id = u.id"
)
FIELDS = (
    "delivery_id",
    "action_id",
    "channel",
    "url",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    delivery_id: int
    action_id: str
    url: str
    payload: bytes
    attempts: int


async def add(session: AsyncSession, rows: Sequence[tuple[str, str, str, bytes]], now: datetime) -> None:
    """(action_id, channel, url, payload) per triggered action whose channel has a webhook."""
    if rows:
        action_id, channel, url, payload = (list(column) for column in zip(*rows, strict=True))
        await session.execute(
            INSERT, {"action_id": action_id, "channel": channel, "url": url, "payload": payload, "now": now}
        )


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[DueDelivery]:
    """Pending deliveries whose time has come, locked; rows another worker holds are skipped."""
    stmt = (
        select(W.c.delivery_id, W.c.action_id, W.c.url, W.c.payload, W.c.attempts)
        .where(W.c.status == "pending", W.c.next_attempt_at <= now)
        .order_by(W.c.next_attempt_at, W.c.delivery_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [DueDelivery(*row) for row in await session.execute(stmt)]


async def record(session: AsyncSession, results: Sequence[tuple[int, Settled]], now: datetime) -> None:
    """Store each attempt's outcome (status, attempts, next attempt, last error)."""
    if results:
        await session.execute(
            RECORD,
            {
                "id": [i for i, _ in results],
                "status": [s.status for _, s in results],
                "attempts": [s.attempts for _, s in results],
                "next_at": [s.next_attempt_at for _, s in results],
                "error": [s.last_error[:2000] if s.last_error else None for _, s in results],
                "now": now,
            },
        )


async def page(
    session: AsyncSession, *, status: str | None, action_id: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Newest first; `before` is the id of the last item of the previous page."""
    stmt = select(*(W.c[f] for f in FIELDS))
    if status is not None:
        stmt = stmt.where(W.c.status == status)
    if action_id is not None:
        stmt = stmt.where(W.c.action_id == action_id)
    if before is not None:
        stmt = stmt.where(W.c.delivery_id < before)
    stmt = stmt.order_by(W.c.delivery_id.desc()).limit(limit)
    return [dict(row._mapping) for row in await session.execute(stmt)]


async def get_for_update(session: AsyncSession, delivery_id: int) -> dict[str, Any] | None:
    row = (
        await session.execute(select(*(W.c[f] for f in FIELDS)).where(W.c.delivery_id == delivery_id).with_for_update())
    ).first()
    return dict(row._mapping) if row else None


async def make_due(session: AsyncSession, delivery_id: int, now: datetime, *, reset_attempts: bool) -> None:
    values: dict[str, Any] = {"status": "pending", "next_attempt_at": now, "updated_at": now}
    if reset_attempts:
        values["attempts"] = 0
    await session.execute(update(W).where(W.c.delivery_id == delivery_id).values(**values))
