"""How a page fails: a service down is a 503 naming it (with Retry-After), never a 500."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from winback_console.adapters.services import ServiceRefused, ServiceUnavailable
from winback_console.domain.i18n import Translator
from winback_console.entrypoints.web import CsrfRefused, Forbidden, NotSignedIn, Web, language_of, login_url

log = structlog.get_logger(__name__)


def install(app: FastAPI, web: Web) -> None:
    def page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return web.render(request, "error.html", {"status": status, "message": message}, status=status, headers=headers)

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, _: NotSignedIn) -> Response:
        return RedirectResponse(login_url(request), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, _: Forbidden) -> Response:
        return page(request, 403, Translator(language_of(request))("error.forbidden"))

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _: CsrfRefused) -> Response:
        return page(request, 403, Translator(language_of(request))("error.csrf"))

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        log.warning("service_unavailable", service=exc.service, reason=exc.reason, path=request.url.path)
        message = Translator(language_of(request))("error.unavailable", service=exc.service)
        return page(request, 503, message, {"Retry-After": str(web.settings.retry_after_s)})

    @app.exception_handler(ServiceRefused)
    async def _refused(request: Request, exc: ServiceRefused) -> Response:
        t = Translator(language_of(request))
        if exc.status == 401:
            # The key was withdrawn since sign-in: the session is worth nothing any more.
            request.session.clear()
            return RedirectResponse(login_url(request), status_code=303)
        if exc.status == 403:
            return page(request, 403, t("error.forbidden"))
        if exc.status == 404:
            return page(request, 404, t("error.not_found") + f" ({exc.detail})")
        return page(request, exc.status, t("error.refused", service=exc.service, detail=exc.detail))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        t = Translator(language_of(request))
        return page(request, exc.status_code, t("error.not_found") if exc.status_code == 404 else str(exc.detail))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        # Only a bug of the console lands here (outages are ServiceUnavailable): say so, as a page.
        log.exception("unhandled_error", error=repr(exc)[:500], path=request.url.path)
        return page(request, 500, "internal error of the console (a bug); reload the page to see what was saved")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'input'}: {e.get('msg')}" for e in exc.errors()[:5]
        )
        return page(request, 422, problems)
