"""`/healthz`, `/readyz` and `/metrics` as every service has them."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from winback_console.adapters.services import ServiceGateway
from winback_console.settings import ConsoleSettings
from winback_shared.http.app import _Latency

# The services the pages are made from; ingest is not called by any page.
DEPENDENCIES = ("risk", "campaign", "consent", "metrics")


def install(app: FastAPI, settings: ConsoleSettings, gateway: ServiceGateway) -> None:
    app.add_middleware(_Latency, service=settings.service_name)

    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready when every service the pages need answers its own /healthz."""
        answers = await asyncio.gather(*(gateway.reachable(name) for name in DEPENDENCIES))
        checks = dict(zip(DEPENDENCIES, answers, strict=True))
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
