"""The stack seen from Kafka: each service's consumer lag, and what campaign and risk publish.

The simulator reads `winback.actions` and `winback.campaign` as a campaign tool would (and
`winback.risk`, to time the status flags), from the log's end at its start, so a second run on
the same stack sees only its own actions. Lags are read from the broker (committed offsets
against log ends), so they cover every process and instance of a service.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from winback_shared.events.topics import Topic

# Consumer group and topics of each service that decides on what it consumed (services' contracts).
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "risk": ("winback-risk", (Topic.EVENTS.value, Topic.CONSENT.value)),
    "consent": ("winback-consent", (Topic.EVENTS.value,)),
    "campaign": ("winback-campaign", (Topic.EVENTS.value, Topic.RISK.value, Topic.CONSENT.value)),
    "metrics": (
        "winback-metrics",
        (Topic.EVENTS.value, Topic.RISK.value, Topic.CONSENT.value, Topic.CAMPAIGN.value, Topic.ACTIONS.value),
    ),
}
WATCHED = (Topic.ACTIONS.value, Topic.CAMPAIGN.value, Topic.RISK.value)
# Records a service could not apply and parked: each one is a defect the report must show.
PARKED = (Topic.DEADLETTER.value,)


class LagMonitor:
    """Records not yet applied by each service's consumer group, read from the broker."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._ends = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()
        topics = {t for _, ts in GROUPS.values() for t in ts}
        for described in await self._admin.describe_topics(sorted(topics)):
            name = described["topic"]
            self._partitions[name] = [TopicPartition(name, p["partition"]) for p in described["partitions"]]

    async def stop(self) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def lags(self, services: tuple[str, ...] = tuple(GROUPS)) -> dict[str, int]:
        """Per service, records on its topics beyond its committed offsets (a group never committed counts all)."""
        tps = [tp for topic in {t for s in services for t in GROUPS[s][1]} for tp in self._partitions[topic]]
        ends = await self._ends.end_offsets(tps)
        answers = await asyncio.gather(
            *(
                self._admin.list_consumer_group_offsets(
                    GROUPS[s][0], partitions=[tp for t in GROUPS[s][1] for tp in self._partitions[t]]
                )
                for s in services
            )
        )
        lags = {}
        for service, committed in zip(services, answers, strict=True):
            group_tps = [tp for t in GROUPS[service][1] for tp in self._partitions[t]]
            lags[service] = sum(
                max(ends[tp] - max(committed[tp].offset if tp in committed else 0, 0), 0) for tp in group_tps
            )
        return lags


@dataclass(frozen=True)
class Published:
    topic: str
    event: dict[str, Any]


class Feed:
    """Everything campaign and risk publish from the moment of `start`, decoded, in log order per partition."""

    def __init__(self, bootstrap: str, *, group_id: str | None = None) -> None:
        # Its own group (never one of the services'); offsets are set by hand, from the log's end at start.
        self.group_id = group_id or f"winback-simulator-{uuid.uuid4().hex[:8]}"
        # Per service (its `x-winback-service` header), the records it parked since `start`.
        self.parked: Counter[str] = Counter()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_poll_records=5_000,
        )

    async def start(self) -> None:
        await self._consumer.start()
        tps = [
            TopicPartition(topic, p)
            for topic in (*WATCHED, *PARKED)
            for p in sorted(self._consumer.partitions_for_topic(topic) or await self._partitions(topic))
        ]
        self._consumer.assign(tps)
        for tp, end in (await self._consumer.end_offsets(tps)).items():
            self._consumer.seek(tp, end)

    async def _partitions(self, topic: str) -> set[int]:
        await self._consumer._client.force_metadata_update()
        return self._consumer.partitions_for_topic(topic) or set()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 0) -> list[Published]:
        """What has arrived since the last poll (waits up to `timeout_ms` when nothing has)."""
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=50_000)
        found = []
        for tp, records in batches.items():
            for record in records:
                if tp.topic in PARKED:
                    service = dict(record.headers or ()).get("x-winback-service", b"unknown")
                    self.parked[service.decode(errors="replace")] += 1
                    continue
                try:
                    event = json.loads(record.value or b"")
                except ValueError:
                    continue
                if isinstance(event, dict):
                    found.append(Published(tp.topic, event))
        return found

    async def caught_up(self) -> bool:
        """Whether every record published so far has been read."""
        tps = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(tps)
        positions = [await self._consumer.position(tp) for tp in tps]
        return all(pos >= ends[tp] for tp, pos in zip(tps, positions, strict=True))
