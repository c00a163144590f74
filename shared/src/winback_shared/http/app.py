"""The FastAPI app every service builds on: health, readiness, metrics, clock, errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from pydantic import BaseModel

from winback_shared.clock import AdjustableClock, ClockMovedBackwards
from winback_shared.events.envelope import Timestamp
from winback_shared.http.auth import require_role
from winback_shared.http.inputs import refuse_unusable_text
from winback_shared.http.problems import ProblemError, install_problem_handlers
from winback_shared.runtime import ServiceRuntime

HTTP_SECONDS = Histogram(
    "winback_http_request_seconds", "HTTP request latency by route template", ["service", "method", "route", "status"]
)


class _Latency:
    """Pure ASGI middleware (no BaseHTTPMiddleware: that costs a task per request) timing every request."""

    def __init__(self, app: Any, service: str) -> None:
        self._app, self._service = app, service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def _send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, _send)
        finally:
            # The route template, never the raw path: ids in paths would explode the label set.
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_SECONDS.labels(self._service, scope["method"], route, str(status[0])).observe(
                time.perf_counter() - started
            )


class ClockMove(BaseModel):
    now: Timestamp


def _ops_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JSONResponse:
        runtime: ServiceRuntime = request.app.state.runtime
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _clock_routes() -> APIRouter:
    router = APIRouter(prefix="/v1/clock", tags=["clock"])

    def _clock(request: Request) -> AdjustableClock:
        runtime: ServiceRuntime = request.app.state.runtime
        if runtime.settings.is_production or not isinstance(runtime.clock, AdjustableClock):
            raise ProblemError(404, "the clock cannot be read or moved in production")
        return runtime.clock

    @router.get("")
    async def read_clock(request: Request, _: Annotated[str, Depends(require_role("ops", "admin"))]) -> dict[str, Any]:
        return {"now": _clock(request).now().isoformat()}

    @router.post("")
    async def move_clock(
        request: Request, body: ClockMove, _: Annotated[str, Depends(require_role("admin"))]
    ) -> dict[str, Any]:
        try:
            now = _clock(request).advance_to(body.now)
        except ClockMovedBackwards as exc:
            raise ProblemError(409, str(exc)) from exc
        runtime: ServiceRuntime = request.app.state.runtime
        runtime.clock_moved()
        return {"now": now.isoformat()}

    return router


def create_app(runtime: ServiceRuntime, routers: Sequence[APIRouter], *, title: str, description: str = "") -> FastAPI:
    """Build the service's app; the runtime's background work runs for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # One rule for every path, query and body string of every route (winback_shared.validation).
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(refuse_unusable_text)],
    )
    app.state.runtime = runtime
    app.state.retry_after_s = runtime.settings.retry_after_s
    app.state.api_keys = runtime.settings.api_key_roles()
    install_problem_handlers(app)
    app.add_middleware(_Latency, service=runtime.settings.service_name)
    app.include_router(_ops_routes())
    app.include_router(_clock_routes())
    for router in routers:
        app.include_router(router)
    return app
