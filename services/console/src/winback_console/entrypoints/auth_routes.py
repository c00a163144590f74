"""Sign-in with an API key, sign-out, and the user's language."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from winback_console.adapters.services import ServiceRefused
from winback_console.domain.i18n import LANGUAGES, Translator
from winback_console.domain.roles import CONSOLE_ROLES
from winback_console.entrypoints.web import Web, checked_form, flash, language_of, signed_in

# The cheapest call every ops or admin key may make: it proves the service accepts the key.
KEY_CHECK = ("consent", "/v1/policy")


def safe_next(target: str | None) -> str:
    """Only a path of the console itself: never an absolute or protocol-relative URL (open redirect)."""
    # Browsers drop tabs and newlines from URLs ("/\t/evil" is "//evil"), so no control or space either.
    unsafe = any(c.isspace() or ord(c) < 32 or c == "\\" for c in target or "")
    if not target or not target.startswith("/") or target.startswith("//") or unsafe:
        return "/today"
    return target


def router(web: Web) -> APIRouter:
    r = APIRouter()
    roles = web.settings.api_key_roles()

    @r.get("/")
    async def home(request: Request) -> Response:
        signed_in(request)
        return RedirectResponse("/today", status_code=303)

    @r.get("/login")
    async def login_form(request: Request, next: str | None = None) -> Response:
        """The sign-in form."""
        return web.render(request, "login.html", {"next": safe_next(next), "problem": None})

    @r.post("/login")
    async def login(
        request: Request, form: Annotated[FormData, Depends(checked_form)], api_key: Annotated[str, Form()] = ""
    ) -> Response:
        """Check the key with a service; keep it and its role in the signed session cookie."""
        t = Translator(language_of(request))
        target = safe_next(str(form.get("next") or ""))
        key = api_key.strip()
        role = roles.get(key)
        problem = None
        if role is None:
            problem = t("login.unknown_key")
        elif role not in CONSOLE_ROLES:
            problem = t("login.wrong_role", role=role)
        else:
            try:
                await web.gateway.get(*KEY_CHECK, key=key)
            except ServiceRefused as exc:
                problem = t("login.unknown_key") if exc.status == 401 else t("login.wrong_role", role=role)
        if problem is not None:
            return web.render(request, "login.html", {"next": target, "problem": problem}, status=401)
        language = request.session.get("lang")
        # A new session on sign-in (and a new CSRF token): nothing planted before sign-in carries over.
        request.session.clear()
        request.session.update({"key": key, "role": role, "csrf": secrets.token_urlsafe(32)})
        if language:
            request.session["lang"] = language
        return RedirectResponse(target, status_code=303)

    @r.post("/logout")
    async def logout(request: Request, _: Annotated[FormData, Depends(checked_form)]) -> Response:
        """Forget the session; the key leaves the browser with the cookie."""
        language = request.session.get("lang")
        request.session.clear()
        if language:
            request.session["lang"] = language
        flash(request, "info", Translator(language_of(request))("login.signed_out"))
        return RedirectResponse("/login", status_code=303)

    @r.post("/language")
    async def choose_language(request: Request, form: Annotated[FormData, Depends(checked_form)]) -> Response:
        """Save the user's language in the session; back to the page they were on."""
        chosen = str(form.get("lang") or "")
        if chosen in LANGUAGES:
            request.session["lang"] = chosen
        return RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)

    return r
