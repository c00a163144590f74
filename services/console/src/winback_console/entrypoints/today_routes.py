"""/today: the calls and letters due, and recording their outcome."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from winback_console.adapters.services import ServiceRefused
from winback_console.domain.i18n import Translator
from winback_console.domain.roles import Permission
from winback_console.domain.today import OUTCOMES
from winback_console.entrypoints.web import User, Web, allowed, checked_form, flash, language_of, signed_in
from winback_console.service_layer.today import record_outcome, todays_work

NOTE_MAX = 2000


def router(web: Web) -> APIRouter:
    r = APIRouter()

    @r.get("/today")
    async def today(request: Request, user: Annotated[User, Depends(signed_in)]) -> Response:
        """Call tasks and letters due, grouped by assignee, with what the caller needs to know."""
        groups = await todays_work(web.gateway, user.key)
        return web.render(request, "today.html", {"groups": groups, "outcomes": OUTCOMES})

    @r.post("/today/{action_id}/outcome")
    async def outcome(
        request: Request,
        action_id: str,
        user: Annotated[User, Depends(signed_in)],
        form: Annotated[FormData, Depends(checked_form)],
    ) -> Response:
        """Campaign records the outcome; consent, risk and metrics act on the events it sends."""
        allowed(user, Permission.RECORD_OUTCOME)
        t = Translator(language_of(request))
        chosen = str(form.get("outcome") or "")
        note = str(form.get("note") or "").strip()[:NOTE_MAX]
        if chosen not in OUTCOMES:
            flash(request, "error", t("error.refused", service="console", detail=f"outcome {chosen!r}"))
            return RedirectResponse(f"/today#task-{action_id}", status_code=303)
        try:
            answer = await record_outcome(web.gateway, user.key, action_id, chosen, note)
        except ServiceRefused as exc:
            if exc.status in (401, 403):
                raise
            flash(request, "error", t("error.refused", service=exc.service, detail=exc.detail))
            return RedirectResponse("/today", status_code=303)
        text = t("today.recorded", outcome=t(f"outcome.{chosen}"))
        if answer.get("enrollment_exit"):
            text += " " + t("today.exit", reason=answer["enrollment_exit"])
        flash(request, "ok", text)
        return RedirectResponse("/today", status_code=303)

    return r
