"""Extra processes of one service instance that only consume: more than one core for a Python consumer.

A consumer whose handler is Python-heavy (risk folds and scores every event) saturates the one
core its process can use while the database still has room. The instance then runs
`count` more processes beside the HTTP process, each a member of the same consumer group, so
partitions spread over them and their batches never share a key. They write only through the
database (state, inbox, outbox); the HTTP process keeps the API, the outbox relay and the
schedulers, so nothing else runs twice.

Each process reports the lag of its consumers through shared memory (-1 while unknown), so
`/v1/progress` and anything waiting for "caught up" see the whole instance. A process that dies
is started again (after a growing pause if it keeps dying young); on shutdown each gets SIGTERM,
finishes its batch and commits, and is killed if it has not exited in time. The processes ignore
SIGINT (a Ctrl-C reaches the whole process group: the HTTP process owns the shutdown) and stop
by themselves when the HTTP process is gone, so a killed instance leaves no consumer behind.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import signal
import time
from collections.abc import Awaitable, Callable
from ctypes import Array, c_longlong
from multiprocessing.process import BaseProcess

import structlog

from winback_shared.aio import wait_any

log = structlog.get_logger(__name__)

# What a consumer process runs, as "module:function": function(index, lags) returns when told to stop.
# A string, so the composition root need not import the process's entry point (which imports it).
ProcessTarget = str

UNKNOWN_LAG = -1

# A process that dies sooner than this after its start is restarted after a doubled pause.
_YOUNG_S = 30.0
_MAX_RESTART_DELAY_S = 30.0
# How often a consumer process checks that the HTTP process still runs.
_PARENT_CHECK_S = 0.5


class ConsumerProcesses:
    """`count` consumer processes running `target`, supervised from the HTTP process."""

    def __init__(
        self,
        name: str,
        count: int,
        target: ProcessTarget,
        *,
        restart_delay_s: float = 1.0,
        # Below the runtime's 15 s shutdown budget, which cancels this worker when it runs out.
        stop_timeout_s: float = 10.0,
    ) -> None:
        # Spawned, not forked: the parent has an event loop, threads and open sockets.
        self._context = multiprocessing.get_context("spawn")
        self._name = name
        self._target = target
        # One writer per slot and aligned 8-byte values: no lock needed (and no semaphore to leak).
        self._lags: Array[c_longlong] = self._context.RawArray("q", [UNKNOWN_LAG] * count)
        self._processes: list[BaseProcess | None] = [None] * count
        self._started_at = [0.0] * count
        self._delays = [restart_delay_s] * count
        # When a dead process is due to be started again (None: alive, or not noticed yet).
        self._restart_at: list[float | None] = [None] * count
        self._restart_delay_s = restart_delay_s
        self._stop_timeout_s = stop_timeout_s
        self.restarts = 0

    @property
    def count(self) -> int:
        return len(self._processes)

    def lag(self) -> int | None:
        """Records behind over every process's consumers; None until each has measured.

        None also while a process is dead: its last report is stale, and its partitions stay
        with it until the group notices.
        """
        if not all(p is not None and p.is_alive() for p in self._processes):
            return None
        lags = [self._lags[i] for i in range(self.count)]
        return None if UNKNOWN_LAG in lags else sum(lags)

    def pids(self) -> list[int | None]:
        return [p.pid if p is not None else None for p in self._processes]

    def _start(self, index: int) -> None:
        self._lags[index] = UNKNOWN_LAG
        process = self._context.Process(
            target=_run_target, args=(self._target, index, self._lags), name=f"{self._name}-{index}", daemon=True
        )
        process.start()
        self._processes[index] = process
        self._started_at[index] = time.monotonic()
        log.info("consumer_process_started", name=process.name, pid=process.pid)

    async def run(self, stop: asyncio.Event) -> None:
        """Start the processes, restart any that exit, and stop them all when `stop` is set."""
        try:
            for index in range(self.count):
                self._start(index)
            while not stop.is_set():
                for index, process in enumerate(self._processes):
                    if process is not None and not process.is_alive():
                        self._restart_when_due(index, process)
                await wait_any(stop, seconds=self._restart_delay_s)
        finally:
            await self._stop_all()

    def _restart_when_due(self, index: int, dead: BaseProcess) -> None:
        now = time.monotonic()
        due = self._restart_at[index]
        if due is None:
            lived_s = now - self._started_at[index]
            young = lived_s < _YOUNG_S
            # A process that keeps dying at start (bad configuration, database down) is not
            # respawned every second; one that ran a while is replaced at once.
            delay = self._delays[index] if young else 0.0
            self._delays[index] = min(delay * 2, _MAX_RESTART_DELAY_S) if young else self._restart_delay_s
            log.error("consumer_process_exited", name=dead.name, exitcode=dead.exitcode, lived_s=round(lived_s, 1),
                      restart_in_s=delay)  # fmt: skip
            due = self._restart_at[index] = now + delay
        if now >= due:
            self._restart_at[index] = None
            self.restarts += 1
            self._start(index)

    async def _stop_all(self) -> None:
        running = [p for p in self._processes if p is not None and p.is_alive()]
        for process in running:
            # SIGTERM: the process finishes its batch, commits its offsets and exits.
            process.terminate()
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(*(loop.run_in_executor(None, p.join, self._stop_timeout_s) for p in running))
        finally:
            # Also when the runtime's shutdown budget ran out and cancelled the wait: nothing
            # may outlive the instance (multiprocessing would join it at exit, without a limit).
            for process in running:
                if process.is_alive():
                    log.error("consumer_process_killed", name=process.name, pid=process.pid)
                    process.kill()


def _run_target(target: str, index: int, lags: Array[c_longlong]) -> None:
    # First, before the imports take their time: a Ctrl-C is the HTTP process's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)(index, lags)


def serve_until_terminated(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` in a fresh event loop; SIGTERM, or the HTTP process's end, sets `stop`.

    For the body of a consumer process: the HTTP process sends SIGTERM on shutdown. If it is
    killed instead (SIGKILL, out of memory), nobody would; the process then stops by itself
    rather than consume on in the group with nobody supervising it.
    """

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        watcher = asyncio.create_task(_stop_when_orphaned(stop))
        try:
            await main(stop)
        finally:
            watcher.cancel()

    asyncio.run(run())


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    while not stop.is_set():
        if not parent.is_alive():
            log.error("consumer_process_orphaned", parent_pid=parent.pid)
            stop.set()
            return
        await wait_any(stop, seconds=_PARENT_CHECK_S)
