"""/segments and /results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from winback_console.entrypoints.web import User, Web, signed_in
from winback_console.service_layer import overview


def router(web: Web) -> APIRouter:
    r = APIRouter()

    @r.get("/segments")
    async def segments(request: Request, user: Annotated[User, Depends(signed_in)]) -> Response:
        """The four quadrants, the at-risk list by risk x value, the lapsed against their own rhythm."""
        return web.render(request, "segments.html", await overview.segments(web.gateway, user.key))

    @r.get("/results")
    async def results(request: Request, user: Annotated[User, Depends(signed_in)]) -> Response:
        """Metrics' dashboard numbers inside the console, with a link to the full dashboard."""
        data = await overview.results(web.gateway, user.key)
        public = web.settings.metrics_public_url or web.settings.metrics_url
        return web.render(request, "results.html", {**data, "dashboard_url": public.rstrip("/") + "/dashboard"})

    return r
