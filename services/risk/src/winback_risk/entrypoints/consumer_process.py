"""One extra consumer process of a risk instance (WINBACK_CONSUMER_PROCESSES > 1).

Spawned by the HTTP process (`winback_shared.consumer_processes`): rebuilds the settings from
the same environment, joins the same consumer group and applies events exactly as the HTTP
process's consumers do. It runs no API, relay or scheduler; its lag goes to `lags[index]`.
"""

from __future__ import annotations

import asyncio
from ctypes import Array, c_longlong

from winback_risk.entrypoints.consumer import add_event_consumers, scoring_of, tune_gc
from winback_risk.service_layer.model_service import ModelHolder
from winback_risk.settings import RiskSettings
from winback_shared.aio import wait_any
from winback_shared.consumer_processes import UNKNOWN_LAG, serve_until_terminated
from winback_shared.logging import configure_logging
from winback_shared.runtime import ServiceRuntime

# How often the lag is published to the HTTP process.
LAG_REPORT_S = 0.2


def run(index: int, lags: Array[c_longlong]) -> None:
    settings = RiskSettings()
    configure_logging(settings.service_name, settings.log_level)
    serve_until_terminated(lambda stop: _consume(settings, index, lags, stop))


async def _consume(settings: RiskSettings, index: int, lags: Array[c_longlong], stop: asyncio.Event) -> None:
    runtime = ServiceRuntime(settings)
    holder = ModelHolder(refresh_s=settings.model_poll_s)
    consumers = add_event_consumers(runtime, settings, scoring_of(runtime, settings, holder))
    tune_gc()
    await runtime.start()
    try:
        while not stop.is_set():
            measured = [c.lag for c in consumers]
            lags[index] = UNKNOWN_LAG if None in measured else sum(lag for lag in measured if lag is not None)
            await wait_any(stop, seconds=LAG_REPORT_S)
    finally:
        await runtime.stop()
