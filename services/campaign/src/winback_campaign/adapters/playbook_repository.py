"""SQL of the stored playbook versions; never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import playbook_versions


async def latest_documents(session: AsyncSession) -> list[dict[str, Any]]:
    """The newest stored version of every playbook id."""
    p = playbook_versions
    rows = await session.execute(
        select(p.c.document).order_by(p.c.playbook_id, p.c.version.desc()).distinct(p.c.playbook_id)
    )
    return [dict(r.document) for r in rows]


async def highest_version(session: AsyncSession, playbook_id: str) -> int:
    """Highest stored version of the id, 0 when none; locks nothing (the primary key settles races)."""
    value = await session.scalar(
        select(func.max(playbook_versions.c.version)).where(playbook_versions.c.playbook_id == playbook_id)
    )
    return int(value or 0)


async def insert_version(
    session: AsyncSession, playbook_id: str, version: int, document: dict[str, Any], now: datetime
) -> None:
    await session.execute(
        playbook_versions.insert().values(playbook_id=playbook_id, version=version, document=document, created_at=now)
    )
