"""HTTP routes of campaign (ops/admin): actions, enrolments, playbooks (read-only for now)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.domain.playbooks import Playbook
from winback_campaign.service_layer import views
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError

Reader = Annotated[str, Depends(require_role("ops", "admin"))]


def build_router(sessions: async_sessionmaker[AsyncSession], playbooks: Callable[[], Sequence[Playbook]]) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/actions", tags=["actions"])
    async def list_actions(
        _: Reader,
        customer_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        playbook_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        status: Literal["triggered", "suppressed"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> Any:
        """Actions newest first, filtered by customer, playbook and status."""
        try:
            page = await views.actions_page(
                sessions, customer_id=customer_id, playbook_id=playbook_id, status=status, limit=limit, cursor=cursor
            )
        except views.InvalidCursor as exc:
            raise ProblemError(400, str(exc)) from exc
        return jsonable_encoder(page)

    @router.get("/customers/{customer_id}/enrollments", tags=["enrollments"])
    async def customer_enrollments(_: Reader, customer_id: str) -> Any:
        """The customer's enrolments with their steps (empty for a customer never enrolled)."""
        return jsonable_encoder(await views.enrollments_of(sessions, customer_id))

    @router.get("/playbooks", tags=["playbooks"])
    async def list_playbooks(_: Reader) -> Any:
        """The playbooks in force."""
        return views.playbook_list(playbooks())

    @router.get("/playbooks/{playbook_id}", tags=["playbooks"])
    async def get_playbook(_: Reader, playbook_id: str) -> Any:
        """One playbook."""
        playbook = views.find_playbook(playbooks(), playbook_id)
        if playbook is None:
            raise ProblemError(404, f"no playbook {playbook_id!r}")
        return playbook.as_dict()

    return router
