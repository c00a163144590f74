"""SQL of the double opt-in requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_consent.adapters.tables import doi_requests


@dataclass(frozen=True, slots=True)
class DoiRequest:
    id: str
    customer_id: str
    token_hash: str
    email: str
    text_version: str
    requested_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    grant_id: str | None = None


async def add(session: AsyncSession, request: DoiRequest) -> None:
    await session.execute(
        insert(doi_requests).values(
            id=request.id,
            customer_id=request.customer_id,
            token_hash=request.token_hash,
            email=request.email,
            text_version=request.text_version,
            requested_at=request.requested_at,
            expires_at=request.expires_at,
        )
    )


async def by_token(session: AsyncSession, token_hash: str) -> DoiRequest | None:
    """The request with this token, locked so two clicks confirm once."""
    row = (
        await session.execute(select(doi_requests).where(doi_requests.c.token_hash == token_hash).with_for_update())
    ).first()
    if row is None:
        return None
    return DoiRequest(
        row.id,
        row.customer_id,
        row.token_hash,
        row.email,
        row.text_version,
        row.requested_at,
        row.expires_at,
        row.confirmed_at,
        row.grant_id,
    )


async def mark_confirmed(session: AsyncSession, request_id: str, confirmed_at: datetime, grant_id: str) -> None:
    await session.execute(
        update(doi_requests).where(doi_requests.c.id == request_id).values(confirmed_at=confirmed_at, grant_id=grant_id)
    )
