"""Run one service under cProfile; the stats are written when it gets SIGTERM.

    python bench/profile_service.py SERVICE OUT.prof

Used by the benchmarks' --profile options; configured by the same WINBACK_ environment as
`python -m winback_SERVICE serve`.
"""

from __future__ import annotations

import asyncio
import cProfile
import importlib
import signal
import sys
from typing import Any

import uvicorn

from winback_shared.settings import ServiceSettings


def _settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"winback_{service}.settings")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ServiceSettings) and value is not ServiceSettings
    ]
    if len(classes) != 1:
        raise SystemExit(f"winback_{service}.settings should define exactly one settings class")
    return classes[0]


def main(service: str, out: str) -> None:
    profiler = cProfile.Profile()

    def dump(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)
        sys.exit(0)

    # uvicorn restores this handler and re-raises SIGTERM after its graceful shutdown.
    signal.signal(signal.SIGTERM, dump)
    settings = _settings_class(service)()
    app = importlib.import_module(f"winback_{service}.bootstrap").build_app(settings)

    async def reporting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            # Shows which event loop uvicorn picked (uvloop when it is importable).
            print(f"event loop: {type(asyncio.get_running_loop())}", file=sys.stderr, flush=True)
        await app(scope, receive, send)

    profiler.enable()
    uvicorn.run(reporting, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
