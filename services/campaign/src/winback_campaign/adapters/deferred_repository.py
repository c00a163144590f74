"""SQL of status changes waiting for the event they name; runs inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import deferred_status_changes, processed_events
from winback_shared.events.produced import CustomerStatusChanged
from winback_shared.events.registry import parse_event

# Released once the named event is recorded as applied here, or after the grace (the event may never
# come, e.g. it was older than the topic's retention): then campaign decides on what it has, as before.
# DELETE ... RETURNING takes each row once, even with several consumers releasing at the same time.
RELEASE = text(
    f"DELETE FROM {deferred_status_changes.fullname} AS d "
    f"WHERE EXISTS (SELECT 1 FROM {processed_events.fullname} AS p "
    "WHERE p.source = d.cause_source AND p.event_id = d.cause_id) OR d.received_at <= :expired "
    "RETURNING d.payload, d.received_at"
)


async def defer(session: AsyncSession, changes: Sequence[CustomerStatusChanged], now: datetime) -> None:
    """Keep status changes until the event each names is applied (a redelivered one is kept once)."""
    rows = []
    for event in changes:
        cause = event.data.caused_by
        assert cause is not None
        rows.append(
            {
                "source": event.source,
                "event_id": event.id,
                "customer_id": event.data.customer_id,
                "cause_source": cause.source,
                "cause_id": cause.id,
                "payload": json.loads(event.to_json_bytes()),
                "received_at": now,
            }
        )
    if rows:
        await session.execute(insert(deferred_status_changes).on_conflict_do_nothing(), rows)


async def release(session: AsyncSession, expired: datetime) -> list[CustomerStatusChanged]:
    """Remove and return the deferred changes whose event is applied now (or that waited past `expired`)."""
    rows = (await session.execute(RELEASE, {"expired": expired})).all()
    released: list[tuple[datetime, CustomerStatusChanged]] = []
    for payload, received_at in rows:
        event = parse_event(payload)
        assert isinstance(event, CustomerStatusChanged)
        released.append((received_at, event))
    released.sort(key=lambda r: (r[0], r[1].time))
    return [event for _, event in released]
