"""/customers: search, the customer's page, GDPR export (ops) and erasure (admin)."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from winback_console.domain.i18n import Translator
from winback_console.domain.roles import Permission
from winback_console.entrypoints.web import User, Web, allowed, checked_form, flash, language_of, signed_in
from winback_console.service_layer import customers

CustomerId = Annotated[str, Query(min_length=1, max_length=128)]


def router(web: Web) -> APIRouter:
    r = APIRouter()

    @r.get("/customers")
    async def search(
        request: Request,
        user: Annotated[User, Depends(signed_in)],
        q: Annotated[str, Query(max_length=128)] = "",
    ) -> Response:
        """Search by id, name or e-mail; one exact id match goes straight to the customer."""
        query = q.strip()
        found = await customers.search(web.gateway, user.key, query) if query else []
        return web.render(request, "customers.html", {"q": query, "found": found})

    @r.get("/customers/{customer_id}")
    async def customer(
        request: Request, customer_id: str, user: Annotated[User, Depends(signed_in)], verify: bool = False
    ) -> Response:
        """Everything known about one customer in one timeline, with consent proof and GDPR actions."""
        data = await customers.customer_page(web.gateway, user.key, customer_id, verify)
        return web.render(request, "customer.html", data, status=200 if data["known"] else 404)

    @r.get("/customers/{customer_id}/export")
    async def export(customer_id: str, user: Annotated[User, Depends(signed_in)]) -> Response:
        """GDPR Art. 15/20: the customer's data from every service as one JSON file."""
        allowed(user, Permission.EXPORT)
        document = await customers.export(web.gateway, user.key, customer_id)
        name = quote(f"winback-{customer_id}.json", safe="")
        return Response(
            json.dumps(document, indent=2, ensure_ascii=False),
            media_type="application/json",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}", "Cache-Control": "no-store"},
        )

    @r.post("/customers/{customer_id}/erase")
    async def erase(
        request: Request,
        customer_id: str,
        user: Annotated[User, Depends(signed_in)],
        form: Annotated[FormData, Depends(checked_form)],
    ) -> Response:
        """GDPR Art. 17 (admin): the id typed again confirms it."""
        allowed(user, Permission.ERASE)
        t = Translator(language_of(request))
        if str(form.get("confirm_id") or "").strip() != customer_id:
            flash(request, "error", t("customer.erase_mismatch"))
            return RedirectResponse(f"/customers/{quote(customer_id, safe='')}", status_code=303)
        await customers.erase(web.gateway, user.key, customer_id)
        flash(request, "ok", t("customer.erased", id=customer_id))
        return RedirectResponse("/customers", status_code=303)

    return r
