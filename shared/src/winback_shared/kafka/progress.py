"""Per-partition progress of a consumer group, read from the broker: offsets and event times.

A watermark over all partitions ("the highest event time applied") moves for good with one
event from the future; per partition, the committed offset against the log end says how far the
group really is, and the time of the last record it committed says which moment that is.
Read from the broker, so it covers every process and instance of the group, not only this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    partition: int
    committed_offset: int | None  # None: the group has committed nothing on this partition yet
    end_offset: int
    lag: int
    # `time` of the last record the group committed (applied), as the record says it.
    last_applied_event_time: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "partition": self.partition,
            "committed_offset": self.committed_offset,
            "end_offset": self.end_offset,
            "lag": self.lag,
            "last_applied_event_time": self.last_applied_event_time,
        }


def _event_time(value: bytes | None) -> str | None:
    try:
        time = json.loads(value or b"").get("time")
    except (ValueError, AttributeError):
        return None
    if not isinstance(time, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(time).isoformat()
    return None


async def group_progress(
    bootstrap: str, group_id: str, topic: str, *, timeout_s: float = 5.0
) -> list[PartitionProgress]:
    """Committed offset, log end, lag and last applied event time of `group_id` on each partition of `topic`."""
    return await asyncio.wait_for(_group_progress(bootstrap, group_id, topic), timeout_s)


async def _group_progress(bootstrap: str, group_id: str, topic: str) -> list[PartitionProgress]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    # No group: this reader must never join (or commit for) the group it observes.
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await admin.start()
    try:
        await reader.start()
        try:
            (described,) = await admin.describe_topics([topic])
            tps = sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])
            committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
            ends = await reader.end_offsets(tps)
            offsets = {
                tp: (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None) for tp in tps
            }
            times = await _last_applied_times(reader, {tp: o for tp, o in offsets.items() if o})
        finally:
            await reader.stop()
    finally:
        await admin.close()
    return [
        PartitionProgress(
            partition=tp.partition,
            committed_offset=offsets[tp],
            end_offset=ends[tp],
            lag=max(ends[tp] - (offsets[tp] or 0), 0),
            last_applied_event_time=times.get(tp),
        )
        for tp in tps
    ]


async def _last_applied_times(
    reader: AIOKafkaConsumer, committed: dict[TopicPartition, int]
) -> dict[TopicPartition, str | None]:
    """The event time of the record just before each committed offset."""
    if not committed:
        return {}
    reader.assign(list(committed))
    for tp, offset in committed.items():
        reader.seek(tp, offset - 1)
    found: dict[TopicPartition, str | None] = {}
    while len(found) < len(committed):
        polled = await reader.getmany(timeout_ms=1_000)
        if not polled:
            break
        for tp, records in polled.items():
            if tp not in found and records:
                found[tp] = _event_time(records[0].value)
                reader.pause(tp)
    return found
