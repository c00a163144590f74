"""Consent under cProfile; the stats are written when the process gets SIGTERM (used by run.py --profile)."""

from __future__ import annotations

import asyncio
import cProfile
import signal
import sys
from typing import Any

import uvicorn

from winback_consent.bootstrap import build_app
from winback_consent.settings import ConsentSettings


def main(out: str) -> None:
    profiler = cProfile.Profile()

    def dump(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)
        sys.exit(0)

    # uvicorn restores this handler and re-raises SIGTERM after its graceful shutdown.
    signal.signal(signal.SIGTERM, dump)
    settings = ConsentSettings()
    app = build_app(settings)

    async def reporting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            # Shows which event loop uvicorn picked (uvloop when it is importable).
            print(f"event loop: {type(asyncio.get_running_loop())}", file=sys.stderr, flush=True)
        await app(scope, receive, send)

    profiler.enable()
    uvicorn.run(reporting, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(sys.argv[1])
