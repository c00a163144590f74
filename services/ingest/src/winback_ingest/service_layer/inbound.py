"""The Kafka-native path: records on winback.inbound, validated like HTTP input, forwarded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from aiokafka import ConsumerRecord
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_ingest.domain.validation import EventError, validate_event
from winback_ingest.service_layer.handlers import accept_events
from winback_shared.events.envelope import NOT_AFTER, CloudEvent
from winback_shared.events.topics import Topic
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

DEAD_LETTERED = Counter("winback_ingest_dead_lettered_total", "Inbound records sent to winback.events.dlq")


def _errors_of(record: ConsumerRecord, latest: datetime) -> CloudEvent | list[EventError]:
    try:
        raw = json.loads(record.value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [EventError(0, None, "", f"record value is not JSON: {exc}")]
    return validate_event(0, raw, {NOT_AFTER: latest})


def _dead_letter(record: ConsumerRecord, errors: list[EventError]) -> OutgoingRecord:
    detail = [{"id": e.id, "field": e.field, "message": e.message} for e in errors]
    return OutgoingRecord(
        Topic.EVENTS_DLQ.value,
        record.key.decode(errors="replace") if record.key else None,
        record.value or b"",
        None,
        (
            ("x-winback-error", json.dumps(detail).encode()[:8000]),
            ("x-winback-origin", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ),
    )


async def forward_inbound(
    sessions: async_sessionmaker[AsyncSession],
    publisher: EventPublisher,
    records: Sequence[ConsumerRecord],
    *,
    publish_timeout_s: float,
    not_after: datetime,
) -> None:
    """Valid events go to winback.events (de-duplicated with HTTP input), invalid ones to the DLQ.

    `not_after` is the latest event time accepted (ingest's clock plus the allowed skew).

    Both are published before the claims commit and the offsets are committed after that, so
    a crash in between republishes the batch at worst: nothing is lost.
    """
    valid: list[CloudEvent] = []
    rejected: list[OutgoingRecord] = []
    for record in records:
        result = _errors_of(record, not_after)
        if isinstance(result, list):
            rejected.append(_dead_letter(record, result))
        else:
            valid.append(result)
    await accept_events(sessions, publisher, valid, publish_timeout_s=publish_timeout_s, also_publish=rejected)
    DEAD_LETTERED.inc(len(rejected))
