"""Bodies for consumer processes in tests of `winback_shared.consumer_processes` (spawned by path)."""

from __future__ import annotations

import asyncio
import signal
import time
from ctypes import Array, c_longlong

from winback_shared.consumer_processes import ConsumerProcesses, serve_until_terminated

TARGET = "tests.support.consumer_targets"


def caught_up(index: int, lags: Array[c_longlong]) -> None:
    """Reports lag 0 and runs until told to stop, like an idle consumer."""

    async def main(stop: asyncio.Event) -> None:
        lags[index] = 0
        await stop.wait()

    serve_until_terminated(main)


def deaf(index: int, lags: Array[c_longlong]) -> None:
    """Ignores SIGTERM: only a kill ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lags[index] = 0
    while True:
        time.sleep(0.1)


async def _supervise_forever() -> None:
    processes = ConsumerProcesses("orphan-test", 1, f"{TARGET}:caught_up")
    task = asyncio.create_task(processes.run(asyncio.Event()))
    await asyncio.sleep(0)  # run() starts its processes before it first waits
    assert processes.pids() != [None]
    print(f"consumer pid {processes.pids()[0]}", flush=True)
    await task


if __name__ == "__main__":
    # An instance that will be SIGKILLed: prints its consumer process's pid, then supervises.
    asyncio.run(_supervise_forever())
