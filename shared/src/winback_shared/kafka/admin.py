"""Creating the contract's topics (idempotent), used by the dev tooling and tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int = 4, timeout_s: float = 30.0) -> None:
    """Create each missing topic; existing ones are left as they are."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            for topic in missing:
                try:
                    await admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1)])
                except TopicAlreadyExistsError:
                    pass
            return
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
