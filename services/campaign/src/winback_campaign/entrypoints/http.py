"""HTTP routes of campaign: actions, enrolments, playbooks (ops), and the public opt-out link."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.service_layer import views, webhooks
from winback_campaign.service_layer.playbooks import InvalidPlaybook, PlaybookService, VersionConflict
from winback_campaign.service_layer.preview import PreviewProblem, preview
from winback_campaign.service_layer.unsubscribe import UnknownLink, Unsubscriber
from winback_shared.clock import Clock
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError

Reader = Annotated[str, Depends(require_role("ops", "admin"))]
Manager = Annotated[str, Depends(require_role("ops", "admin"))]


def build_router(
    sessions: async_sessionmaker[AsyncSession],
    playbooks: PlaybookService,
    unsubscriber: Unsubscriber,
    *,
    clock: Clock,
    replay_window: timedelta,
) -> APIRouter:
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
        """The playbooks in force (shipped defaults, or the newest version saved)."""
        return {"items": [p.as_dict() for p in await playbooks.list()]}

    @router.get("/playbooks/{playbook_id}", tags=["playbooks"])
    async def get_playbook(_: Reader, playbook_id: str) -> Any:
        """One playbook."""
        playbook = await playbooks.get(playbook_id)
        if playbook is None:
            raise ProblemError(404, f"no playbook {playbook_id!r}")
        return playbook.as_dict()

    @router.put("/playbooks/{playbook_id}", tags=["playbooks"])
    async def put_playbook(_: Manager, playbook_id: str, document: Annotated[Any, Body()]) -> Any:
        """Validate and save as a new version; 422 names the exact problem."""
        try:
            playbook = await playbooks.replace(playbook_id, document)
        except InvalidPlaybook as exc:
            raise ProblemError(422, str(exc)) from exc
        except VersionConflict as exc:
            raise ProblemError(409, str(exc)) from exc
        return playbook.as_dict()

    @router.post("/playbooks/{playbook_id}/preview", tags=["playbooks"])
    async def preview_playbook(
        _: Reader,
        playbook_id: str,
        body: Annotated[dict[str, Any] | None, Body()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """Which customers would enrol now (no enrolment is made); `{"tags": [...]}` for release triggers."""
        tags = (body or {}).get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ProblemError(422, "tags must be a list of strings")
        try:
            result = await preview(
                sessions, clock, replay_window, playbook_id, tags=tags, limit=limit, shipped=playbooks.shipped
            )
        except PreviewProblem as exc:
            raise ProblemError(422, str(exc)) from exc
        if result is None:
            raise ProblemError(404, f"no playbook {playbook_id!r}")
        return jsonable_encoder(result)

    # Public on purpose: the customer clicks it; the token's MAC is the authentication.
    @router.api_route("/unsubscribe/{token}", methods=["GET", "POST"], tags=["opt-out"])
    async def unsubscribe(token: str) -> Any:
        """Records the customer's objection (one click, no login, no cost) and stops the sequence."""
        # Tokens are ASCII (an action id and a hex MAC): anything else is no link of ours.
        if len(token) > 200 or not token.isascii():
            raise ProblemError(404, "unknown or invalid opt-out link")
        try:
            await unsubscriber.unsubscribe(token)
        except UnknownLink as exc:
            raise ProblemError(404, str(exc)) from exc
        return {"status": "unsubscribed", "message": "You will receive no more advertising from us."}

    return router


def build_webhook_router(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> APIRouter:
    """The webhook deliveries (ops): what waits, what arrived, what was dead-lettered; retry by hand."""
    router = APIRouter(prefix="/v1/webhook-deliveries", tags=["webhooks"])

    @router.get("")
    async def list_deliveries(
        _: Reader,
        status: Literal["pending", "delivered", "dead"] | None = None,
        action_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=18)] = None,
    ) -> Any:
        """Deliveries newest first; `?status=dead` is the dead-letter list."""
        if cursor is not None and not cursor.isdigit():
            raise ProblemError(400, f"cursor {cursor!r} is not valid")
        before = int(cursor) if cursor is not None else None
        page = await webhooks.deliveries_page(sessions, status=status, action_id=action_id, limit=limit, before=before)
        return jsonable_encoder(page)

    @router.post("/{delivery_id}/retry")
    async def retry_delivery(_: Manager, delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Any:
        """Due now again; a dead delivery gets the full number of attempts. 409 once it was accepted."""
        try:
            return jsonable_encoder(await webhooks.retry(sessions, clock, delivery_id))
        except webhooks.UnknownDelivery as exc:
            raise ProblemError(404, str(exc)) from exc
        except webhooks.AlreadyDelivered as exc:
            raise ProblemError(409, str(exc)) from exc

    return router
