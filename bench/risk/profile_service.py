"""Risk under cProfile; the stats are written when the process gets SIGTERM (used by consume.py --profile)."""

from __future__ import annotations

import cProfile
import signal
import sys
from typing import Any

import uvicorn

from winback_risk.bootstrap import build_app
from winback_risk.settings import RiskSettings


def main(out: str) -> None:
    profiler = cProfile.Profile()

    def dump(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)
        sys.exit(0)

    # uvicorn restores this handler and re-raises SIGTERM after its graceful shutdown.
    signal.signal(signal.SIGTERM, dump)
    settings = RiskSettings()
    app = build_app(settings)
    profiler.enable()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(sys.argv[1])
