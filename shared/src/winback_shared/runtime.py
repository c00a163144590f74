"""What a running service owns: settings, clock, database engine, publisher, background work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence

import structlog
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from winback_shared.aio import wait_any
from winback_shared.clock import AdjustableClock, Clock, SystemClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.db.relay import OutboxRelay
from winback_shared.kafka.consumer import BatchConsumer, BatchHandler, RecordBatchHandler
from winback_shared.kafka.producer import EventPublisher
from winback_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

Worker = Callable[[asyncio.Event], Awaitable[None]]


class ServiceRuntime:
    """Built once by a service's composition root; started and stopped by the app lifespan."""

    def __init__(self, settings: ServiceSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or (SystemClock() if settings.is_production else AdjustableClock())
        self.engine: AsyncEngine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        self.sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self.publisher = EventPublisher(settings.kafka_bootstrap)
        self._workers: list[tuple[str, Worker]] = []
        # Every consumer of this process, as subscribed (what the contract tests compare).
        self.consumers: list[BatchConsumer] = []
        self._clock_listeners: list[Callable[[], None]] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def add_worker(self, name: str, worker: Worker) -> None:
        """Background work (consumer, relay, scheduler) that runs until the service stops."""
        self._workers.append((name, worker))

    def add_consumer(
        self,
        *,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler | None = None,
        record_handler: RecordBatchHandler | None = None,
        on_batch_done: Callable[[], None] | None = None,
        only_types: Collection[str] | None = None,
    ) -> BatchConsumer:
        """A batch consumer configured from the settings, run for the service's lifetime."""
        s = self.settings
        consumer = BatchConsumer(
            service=s.service_name,
            bootstrap=s.kafka_bootstrap,
            group_id=group_id,
            topics=topics,
            handler=handler,
            record_handler=record_handler,
            dead_letters=self.publisher,
            max_records=s.consumer_max_records,
            max_partition_fetch_bytes=s.consumer_max_partition_fetch_bytes,
            max_attempts=s.consumer_max_attempts,
            max_transient_attempts=s.consumer_max_transient_attempts,
            session_timeout_ms=s.consumer_session_timeout_ms,
            heartbeat_interval_ms=s.consumer_heartbeat_interval_ms,
            on_batch_done=on_batch_done,
            only_types=only_types,
        )
        self.add_worker(f"consumer:{group_id}", consumer.run)
        self.consumers.append(consumer)
        return consumer

    def add_outbox_relay(self, table: Table) -> OutboxRelay:
        """The relay publishing this service's outbox, run for the service's lifetime."""
        relay = OutboxRelay(
            service=self.settings.service_name,
            sessions=self.sessions,
            table=table,
            publisher=self.publisher,
            batch_size=self.settings.outbox_batch_size,
            poll_interval_s=self.settings.outbox_poll_interval_s,
        )
        self.add_worker("outbox-relay", relay.run)
        return relay

    def on_clock_moved(self, listener: Callable[[], None]) -> None:
        self._clock_listeners.append(listener)

    def clock_moved(self) -> None:
        for listener in self._clock_listeners:
            listener()

    async def start(self) -> None:
        self._stop = asyncio.Event()
        for name, worker in self._workers:
            self._tasks.append(asyncio.create_task(self._supervise(name, worker), name=name))

    async def _supervise(self, name: str, worker: Worker) -> None:
        # A worker that dies unexpectedly is restarted: the service must not go half-deaf.
        while not self._stop.is_set():
            try:
                await worker(self._stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("worker_crashed", worker=name, error=repr(exc))
                await wait_any(self._stop, seconds=1.0)

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Graceful shutdown: workers finish their batch and commit, then connections close."""
        self._stop.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
        await self.publisher.close()
        await self.engine.dispose()

    async def database_ready(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 2.0)
            return True
        except Exception:
            return False

    async def readiness(self) -> dict[str, bool]:
        database, broker = await asyncio.gather(self.database_ready(), self.publisher.ping())
        return {"database": database, "broker": broker}
