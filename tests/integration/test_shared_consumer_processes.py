"""The supervisor of an instance's consumer processes, with real spawned processes (no broker needed):
stale lags are not summed, Ctrl-C belongs to the HTTP process, a process deaf to SIGTERM is killed,
and the processes do not outlive an instance that was killed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.support.consumer_targets import TARGET
from tests.support.polling import eventually
from winback_shared.consumer_processes import ConsumerProcesses

ROOT = Path(__file__).resolve().parents[2]


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may be slow to reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def started(processes: ConsumerProcesses) -> list[int]:
    async def known() -> int | None:
        return processes.lag()

    await eventually(known, lambda lag: lag == 0, timeout_s=60)
    return [pid for pid in processes.pids() if pid is not None]


async def test_a_dead_process_makes_the_lag_unknown_until_its_replacement_reports() -> None:
    # A restart delay long enough that the replacement cannot have reported by the first check below.
    processes = ConsumerProcesses("lag-test", 2, f"{TARGET}:caught_up", restart_delay_s=2.0)
    stop = asyncio.Event()
    task = asyncio.create_task(processes.run(stop))
    try:
        first, second = await started(processes)
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: asyncio.sleep(0, result=running(first)), lambda alive: not alive)
        # Its slot still says 0; the instance is not caught up while it is gone.
        assert processes.lag() is None
        await started(processes)
        assert first not in processes.pids() and second in processes.pids()
    finally:
        stop.set()
        await task
    assert not any(running(pid) for pid in processes.pids() if pid is not None)


async def test_ctrl_c_is_left_to_the_http_process_and_a_deaf_process_is_killed_on_stop() -> None:
    processes = ConsumerProcesses("stop-test", 1, f"{TARGET}:deaf", stop_timeout_s=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(processes.run(stop))
    try:
        [pid] = await started(processes)
        os.kill(pid, signal.SIGINT)
        await asyncio.sleep(1.0)
        assert running(pid) and processes.restarts == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    await eventually(lambda: asyncio.sleep(0, result=running(pid)), lambda alive: not alive, timeout_s=5)


async def test_consumer_processes_stop_when_their_instance_is_killed() -> None:
    instance = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.consumer_targets", cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert instance.stdout is not None
        line = b""
        while not line.startswith(b"consumer pid "):  # structlog writes to the same stdout
            line = await asyncio.wait_for(instance.stdout.readline(), 30)
            assert line, "the instance ended before it reported its consumer process"
        child = int(line.split()[-1])
        assert running(child)
        instance.kill()
        await instance.wait()
        gone = await eventually(lambda: asyncio.sleep(0, result=not running(child)), bool, timeout_s=20)
        assert gone
    finally:
        if instance.returncode is None:
            instance.kill()
            await instance.wait()
