"""What every page shares: templates, the signed-in user from the session, CSRF, the user's language."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from winback_console.adapters.services import ServiceGateway
from winback_console.domain.i18n import Translator, negotiate
from winback_console.domain.roles import Permission, may
from winback_console.settings import ConsoleSettings

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
CSRF_FIELD = "csrf_token"
# Everything comes from the console itself: no CDN, no inline script; styles only from /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SERVICE_LABELS = {
    "ingest": "ingest",
    "risk": "risk",
    "campaign": "campaign",
    "consent": "consent",
    "metrics": "metrics",
}


class NotSignedIn(Exception):
    """No (valid) session: the user is sent to /login."""


class Forbidden(Exception):
    """The signed-in role may not do this: 403."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token: 403, nothing done."""


@dataclass(frozen=True)
class User:
    key: str
    role: str

    def may(self, permission: Permission) -> bool:
        return may(self.role, permission)


def language_of(request: Request) -> str:
    """The language saved in the session, else the browser's Accept-Language."""
    chosen = request.session.get("lang")
    return chosen if chosen in ("de", "en") else negotiate(request.headers.get("accept-language"))


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (also before sign-in, for the login form)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def signed_in(request: Request) -> User:
    """Dependency: the signed-in user, or NotSignedIn."""
    key, role = request.session.get("key"), request.session.get("role")
    if not isinstance(key, str) or not isinstance(role, str):
        raise NotSignedIn
    return User(key, role)


def allowed(user: User, permission: Permission) -> None:
    if not user.may(permission):
        raise Forbidden


async def checked_form(request: Request) -> FormData:
    """The posted form after its CSRF token matched the session's; CsrfRefused otherwise."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise CsrfRefused
    return form


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


class Web:
    """Renders pages: the template, the user's words and formats, the CSRF token and the navigation."""

    def __init__(self, settings: ConsoleSettings, gateway: ServiceGateway) -> None:
        self.settings = settings
        self.gateway = gateway
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(enabled_extensions=("html",), default=True),
            # A field a service leaves out shows as empty, never as an error page.
            undefined=ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        language = language_of(request)
        user = None
        try:
            user = signed_in(request)
        except NotSignedIn:
            pass
        page = self.env.get_template(template).render(
            t=Translator(language, self.settings.display_time_zone),
            lang=language,
            user=user,
            Permission=Permission,
            csrf=csrf_token(request),
            csrf_field=CSRF_FIELD,
            path=request.url.path,
            flash=request.session.pop("flash", None),
            **(context or {}),
        )
        all_headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        all_headers.update(headers or {})
        return HTMLResponse(page, status_code=status, headers=all_headers)


def flash(request: Request, kind: str, text: str) -> None:
    """A one-time message shown on the next page (after a redirect)."""
    request.session["flash"] = {"kind": kind, "text": text}
