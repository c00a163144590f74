"""Accepting events: claim `(source, id)`, publish with acks=all, commit the claim."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_ingest.adapters.tables import accepted_events
from winback_ingest.contract import CONTRACT
from winback_shared.db.inbox import claim_unprocessed
from winback_shared.events.envelope import CloudEvent
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

ACCEPTED = Counter("winback_ingest_accepted_total", "Events accepted and published")
DUPLICATES = Counter("winback_ingest_duplicates_total", "Events seen before, not published again")
PUBLISH_SECONDS = Histogram("winback_ingest_publish_seconds", "Time until the broker acknowledged a request's events")


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; nothing of the request was recorded."""


@dataclass(frozen=True, slots=True)
class AcceptResult:
    accepted: int
    duplicates: int


async def accept_events(
    sessions: async_sessionmaker[AsyncSession],
    publisher: EventPublisher,
    events: Sequence[CloudEvent],
    *,
    publish_timeout_s: float,
    also_publish: Sequence[OutgoingRecord] = (),
) -> AcceptResult:
    """Publish the events not accepted before; the claim commits only after the broker's ack.

    The claims are inserted in this transaction before publishing: a concurrent request with
    the same `(source, id)` blocks on the unique key until this one commits (then counts a
    duplicate) or rolls back after a failed publish (then publishes itself). So an event is
    never marked seen before it is durably in Kafka, and never published twice by ingest.
    """
    async with sessions.begin() as session:
        fresh = await claim_unprocessed(session, accepted_events, events)
        records = [OutgoingRecord.of(CONTRACT.topic_of(event.type), event) for event in fresh] + list(also_publish)
        try:
            with PUBLISH_SECONDS.time():
                await asyncio.wait_for(publisher.publish(records), publish_timeout_s)
        except Exception as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
    duplicates = len(events) - len(fresh)
    ACCEPTED.inc(len(fresh))
    DUPLICATES.inc(duplicates)
    return AcceptResult(accepted=len(fresh), duplicates=duplicates)
