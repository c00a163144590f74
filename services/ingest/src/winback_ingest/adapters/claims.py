"""Claiming `(source, id)` pairs in ingest's de-duplication store with one array statement."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_shared.events.envelope import CloudEvent

# Two arrays instead of a multi-row VALUES list: SQLAlchemy compiles the latter per row, which
# cost more CPU than validating the events (see bench/ingest/README.md). WITH ORDINALITY keeps
# the sorted order, so two transactions claiming overlapping sets lock rows in the same order.
_CLAIM = text(
    """
    INSERT INTO ingest.accepted_events (source, event_id)
    SELECT u.source, u.event_id
    FROM unnest(CAST(:sources AS varchar[]), CAST(:ids AS varchar[])) WITH ORDINALITY AS u(source, event_id, n)
    ORDER BY u.n
    ON CONFLICT DO NOTHING
    RETURNING source, event_id
    """
)


async def claim_new(session: AsyncSession, events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """Record the events as accepted in the caller's transaction; return those not accepted before, in order."""
    unique: dict[tuple[str, str], CloudEvent] = {}
    for event in events:
        unique.setdefault(event.identity, event)
    if not unique:
        return []
    keys = sorted(unique)
    result = await session.execute(_CLAIM, {"sources": [s for s, _ in keys], "ids": [i for _, i in keys]})
    claimed = {(row.source, row.event_id) for row in result}
    return [event for key, event in unique.items() if key in claimed]
