"""Run consent with stall probes: garbage collections and event-loop lag, logged to a file.

    python bench/consent/probe_service.py OUT.tsv

Each line is `monotonic_s <TAB> kind <TAB> ms <TAB> detail`: `gc` (generation, pause, objects
collected) for every collection of at least GC_MIN_MS, and `lag` when the event loop ran a probe
timer LAG_MIN_MS or more late, with the CPU time the loop's thread used meanwhile (busy loop
or a descheduled process). Times are CLOCK_MONOTONIC, the clock of
the benchmark client's `perf_counter`, so stalls can be matched with slow requests.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from typing import Any

import uvicorn

from winback_consent.bootstrap import build_app
from winback_consent.settings import ConsentSettings
from winback_shared.logging import configure_logging

GC_MIN_MS = 1.0
LAG_MIN_MS = 5.0
PROBE_EVERY_S = 0.005


def main(out_path: str) -> None:
    out = open(out_path, "a", buffering=1)  # noqa: SIM115 - open for the process's lifetime
    started: dict[int, float] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        gen = info["generation"]
        if phase == "start":
            started[gen] = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - started.pop(gen, time.perf_counter()))
        if ms >= GC_MIN_MS:
            counts = gc.get_count()
            out.write(
                f"{time.monotonic():.4f}\tgc\t{ms:.2f}\tgen={gen} collected={info['collected']} counts={counts}\n"
            )

    gc.callbacks.append(on_gc)

    async def lag_probe() -> None:
        while True:
            due, cpu = time.perf_counter() + PROBE_EVERY_S, time.thread_time()
            await asyncio.sleep(PROBE_EVERY_S)
            if (late := 1000 * (time.perf_counter() - due)) >= LAG_MIN_MS:
                # CPU the loop's thread used meanwhile: ~lag + 5 ms = the loop was busy; much less = descheduled.
                busy = 1000 * (time.thread_time() - cpu)
                out.write(f"{time.monotonic():.4f}\tlag\t{late:.2f}\tcpu={busy:.1f}ms\n")

    settings = ConsentSettings()
    configure_logging(settings.service_name, settings.log_level)
    app = build_app(settings)
    probes: list[asyncio.Task[None]] = []

    async def probed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" and not probes:
            probes.append(asyncio.get_running_loop().create_task(lag_probe()))
        await app(scope, receive, send)

    uvicorn.run(probed, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(sys.argv[1])
