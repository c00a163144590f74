"""Composition root: the console's parts built and wired in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from winback_console.adapters.services import ServiceGateway
from winback_console.entrypoints import errors, ops, pages
from winback_console.entrypoints.web import STATIC_DIR, Web
from winback_console.settings import ConsoleSettings
from winback_shared.settings import ServiceSettings

SESSION_COOKIE = "winback_console"


def build_app(settings: ServiceSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    assert isinstance(settings, ConsoleSettings)
    gateway = ServiceGateway(settings.service_urls(), timeout_s=settings.service_timeout_s, transport=transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.close()

    # No OpenAPI pages: the console is HTML for people; its API is the five services'.
    app = FastAPI(title="winback console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    web = Web(settings, gateway)
    app.state.web = web
    app.state.retry_after_s = settings.retry_after_s
    errors.install(app, web)
    ops.install(app, settings, gateway)
    pages.install(app, web)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Signed (itsdangerous), http-only, SameSite=Lax: sent on top-level links into the console,
    # never on another site's form post; Secure in production.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.console_secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.https_only_cookies,
    )
    return app
