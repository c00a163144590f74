"""Extra processes of one service instance that only consume: more than one core for a Python consumer.

A consumer whose handler is Python-heavy (risk folds and scores every event) saturates the one
core its process can use while the database still has room. The instance then runs
`count` more processes beside the HTTP process, each a member of the same consumer group, so
partitions spread over them and their batches never share a key. They write only through the
database (state, inbox, outbox); the HTTP process keeps the API, the outbox relay and the
schedulers, so nothing else runs twice.

Each process reports the lag of its consumers through shared memory (-1 while unknown), so
`/v1/progress` and anything waiting for "caught up" see the whole instance. A process that dies
is started again; on shutdown each gets SIGTERM, finishes its batch and commits, and is killed
only if it does not exit in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import signal
from collections.abc import Awaitable, Callable
from ctypes import Array, c_longlong
from multiprocessing.process import BaseProcess

import structlog

log = structlog.get_logger(__name__)

# What a consumer process runs, as "module:function": function(index, lags) returns when told to stop.
# A string, so the composition root need not import the process's entry point (which imports it).
ProcessTarget = str

UNKNOWN_LAG = -1


class ConsumerProcesses:
    """`count` consumer processes running `target`, supervised from the HTTP process."""

    def __init__(
        self,
        name: str,
        count: int,
        target: ProcessTarget,
        *,
        restart_delay_s: float = 1.0,
        stop_timeout_s: float = 20.0,
    ) -> None:
        # Spawned, not forked: the parent has an event loop, threads and open sockets.
        self._context = multiprocessing.get_context("spawn")
        self._name = name
        self._target = target
        # One writer per slot and aligned 8-byte values: no lock needed (and no semaphore to leak).
        self._lags: Array[c_longlong] = self._context.RawArray("q", [UNKNOWN_LAG] * count)
        self._processes: list[BaseProcess | None] = [None] * count
        self._restart_delay_s = restart_delay_s
        self._stop_timeout_s = stop_timeout_s
        self.restarts = 0

    @property
    def count(self) -> int:
        return len(self._processes)

    def lag(self) -> int | None:
        """Records behind over every process's consumers; None until each has measured."""
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
        log.info("consumer_process_started", name=process.name, pid=process.pid)

    async def run(self, stop: asyncio.Event) -> None:
        """Start the processes, restart any that exit, and stop them all when `stop` is set."""
        try:
            for index in range(self.count):
                self._start(index)
            while not stop.is_set():
                for index, process in enumerate(self._processes):
                    if process is not None and not process.is_alive():
                        log.error("consumer_process_exited", name=process.name, exitcode=process.exitcode)
                        self.restarts += 1
                        self._start(index)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._restart_delay_s)
        finally:
            await self._stop_all()

    async def _stop_all(self) -> None:
        running = [p for p in self._processes if p is not None and p.is_alive()]
        for process in running:
            # SIGTERM: the process finishes its batch, commits its offsets and exits.
            process.terminate()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, p.join, self._stop_timeout_s) for p in running))
        for process in running:
            if process.is_alive():
                log.error("consumer_process_killed", name=process.name, pid=process.pid)
                process.kill()
                process.join(5)


def _run_target(target: str, index: int, lags: Array[c_longlong]) -> None:
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)(index, lags)


def serve_until_terminated(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` in a fresh event loop; SIGTERM and SIGINT set `stop`.

    For the body of a consumer process: the HTTP process sends SIGTERM on shutdown, and a
    Ctrl-C in a terminal reaches the whole process group.
    """

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await main(stop)

    asyncio.run(run())
