"""/playbooks: list, view with enrolment preview and rendered messages, edit with errors in place."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from winback_console.adapters.services import ServiceRefused
from winback_console.domain.i18n import Translator
from winback_console.domain.playbook_form import (
    ASSIGNEES,
    CHANNELS,
    document_of,
    form_from_post,
    form_of,
    problems_by_field,
)
from winback_console.domain.roles import Permission
from winback_console.entrypoints.web import User, Web, allowed, checked_form, flash, language_of, signed_in
from winback_console.service_layer import playbooks

MAX_STEPS = 50


def router(web: Web) -> APIRouter:
    r = APIRouter()

    @r.get("/playbooks")
    async def list_playbooks(request: Request, user: Annotated[User, Depends(signed_in)]) -> Response:
        """Every playbook in force."""
        return web.render(
            request, "playbooks.html", {"playbooks": await playbooks.all_playbooks(web.gateway, user.key)}
        )

    @r.get("/playbooks/{playbook_id}")
    async def view(
        request: Request,
        playbook_id: str,
        user: Annotated[User, Depends(signed_in)],
        customer: Annotated[str, Query(max_length=128)] = "",
        tags: Annotated[list[str] | None, Query(max_length=20)] = None,
    ) -> Response:
        """The playbook, who would enrol now, and each step's message for a chosen customer (de and en)."""
        document = await playbooks.playbook(web.gateway, user.key, playbook_id)
        chosen_tags = [tag.strip() for raw in (tags or []) for tag in raw.split(",") if tag.strip()]
        preview = await playbooks.preview(web.gateway, user.key, playbook_id, chosen_tags)
        chosen = customer.strip() or next((s["customer_id"] for s in preview.get("sample", [])), "")
        rendered = await playbooks.render_steps(web.gateway, user.key, document, chosen) if chosen else []
        context = {
            "playbook": document,
            "preview": preview,
            "customer": chosen,
            "tags": chosen_tags,
            "rendered": rendered,
        }
        return web.render(request, "playbook.html", context)

    def edit_page(
        request: Request, document: dict[str, Any], form: dict[str, Any], problems: dict[str, list[str]], status: int
    ) -> Response:
        context = {
            "playbook": document,
            "form": form,
            "problems": problems,
            "channels": CHANNELS,
            "assignees": ASSIGNEES,
        }
        return web.render(request, "playbook_edit.html", context, status=status)

    @r.get("/playbooks/{playbook_id}/edit")
    async def edit_form(request: Request, playbook_id: str, user: Annotated[User, Depends(signed_in)]) -> Response:
        """The playbook as a form."""
        allowed(user, Permission.EDIT_PLAYBOOK)
        document = await playbooks.playbook(web.gateway, user.key, playbook_id)
        return edit_page(request, document, form_of(document), {}, 200)

    @r.post("/playbooks/{playbook_id}/edit")
    async def save(
        request: Request,
        playbook_id: str,
        user: Annotated[User, Depends(signed_in)],
        posted: Annotated[FormData, Depends(checked_form)],
    ) -> Response:
        """Campaign validates and saves a new version; its problems are shown at the fields they concern."""
        allowed(user, Permission.EDIT_PLAYBOOK)
        t = Translator(language_of(request))
        stored = await playbooks.playbook(web.gateway, user.key, playbook_id)
        step_count = min(len(stored.get("steps", [])), MAX_STEPS)
        form = form_from_post(posted, step_count)
        document, problems = document_of(stored, form)
        if not problems:
            try:
                saved = await playbooks.save(web.gateway, user.key, playbook_id, document)
            except ServiceRefused as exc:
                if exc.status not in (409, 422):
                    raise
                problems = problems_by_field(exc.detail, step_count)
            else:
                flash(request, "ok", t("playbooks.saved", v=saved.get("version")))
                return RedirectResponse(f"/playbooks/{quote(playbook_id, safe='')}", status_code=303)
        return edit_page(request, stored, form, problems, 422)

    return r
