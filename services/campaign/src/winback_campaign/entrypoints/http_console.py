"""HTTP routes the console needs from campaign (ops): search, timeline, tasks, call outcomes, previews, renders."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.domain.template_engine import TemplateProblem
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.service_layer import console
from winback_campaign.service_layer.outcomes import Outcome, OutcomeConflict, OutcomeRecorder, UnknownAction
from winback_campaign.service_layer.playbooks import PlaybookService
from winback_campaign.service_layer.preview import PreviewProblem
from winback_shared.clock import Clock
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.timeline import DEFAULT_LIMIT, MAX_LIMIT, InvalidBefore

Reader = Annotated[str, Depends(require_role("ops", "admin"))]
Operator = Annotated[str, Depends(require_role("ops", "admin"))]
CustomerId = Annotated[str, Path(min_length=1, max_length=128)]
PlaybookId = Annotated[str, Path(min_length=1, max_length=128)]
TimelineLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Before = Annotated[str | None, Query(max_length=1024, description="next_before of the previous page")]
ConsentBasis = Literal[
    "express_consent",
    "existing_customer_exception",
    "presumed_consent_b2b",
    "postal_legitimate_interest",
    "service_message",
]


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    note: str | None = Field(default=None, max_length=2000)


class RenderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(min_length=1, max_length=128)
    language: Literal["de", "en"]
    variant: str | None = Field(default=None, min_length=1, max_length=64)
    basis: ConsentBasis = "express_consent"


def build_console_router(
    sessions: async_sessionmaker[AsyncSession],
    playbooks: PlaybookService,
    outcomes: OutcomeRecorder,
    sender: SenderIdentity,
    *,
    clock: Clock,
    replay_window: timedelta,
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["console"])

    @router.get("/customers")
    async def search_customers(
        _: Reader,
        q: Annotated[str, Query(min_length=1, max_length=128, description="id prefix, name or e-mail fragment")],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Any:
        """Profiles whose id starts with `q` or whose name or e-mail contains it (case-insensitive)."""
        text = q.strip()
        if not text:
            raise ProblemError(422, "q must contain more than blanks", errors=[{"field": "q", "message": "blank"}])
        return await console.search(sessions, text, limit)

    @router.get("/customers/{customer_id}/timeline")
    async def customer_timeline(
        _: Reader, customer_id: CustomerId, limit: TimelineLimit = DEFAULT_LIMIT, before: Before = None
    ) -> Any:
        """Enrolments, exits, actions (rendered content, consent basis), recorded outcomes; newest first."""
        try:
            return await console.timeline(sessions, customer_id, limit=limit, before=before)
        except InvalidBefore as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "before", "message": str(exc)}]) from exc

    @router.get("/tasks")
    async def tasks(
        _: Reader,
        due_before: Annotated[AwareDatetime | None, Query(description="RFC 3339 with offset; default now")] = None,
        channel: Annotated[
            Literal["phone", "post", "letter"] | None, Query(description="letter is the post channel")
        ] = None,
        status: Literal["open", "done", "all"] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> Any:
        """Call tasks and letters due before `due_before` (consent allowed them), oldest due first."""
        channels = ("phone", "post") if channel is None else ("post",) if channel == "letter" else (channel,)
        try:
            page = await console.tasks(
                sessions,
                due_before=due_before or clock.now(),
                channels=channels,
                status=status,
                limit=limit,
                cursor=cursor,
            )
        except console.InvalidCursor as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "cursor", "message": str(exc)}]) from exc
        return page

    @router.post(
        "/actions/{action_id}/outcome",
        status_code=201,
        responses={
            200: {"description": "the same outcome was recorded before: nothing new happened"},
            404: {"description": "unknown action"},
            409: {"description": "another outcome was recorded, or the action takes none"},
        },
    )
    async def record_outcome(
        _: Operator, action_id: Annotated[str, Path(min_length=1, max_length=64)], body: OutcomeBody
    ) -> JSONResponse:
        """Record what came of a call task or letter; it goes back into the system as events."""
        try:
            recorded = await outcomes.record(action_id, body.outcome, body.note, await playbooks.list())
        except UnknownAction as exc:
            raise ProblemError(404, str(exc)) from exc
        except OutcomeConflict as exc:
            raise ProblemError(409, str(exc)) from exc
        return JSONResponse(recorded.as_dict(), status_code=201 if recorded.created else 200)

    @router.get("/playbooks/{playbook_id}/preview", tags=["playbooks"])
    async def preview_count(
        _: Reader,
        playbook_id: PlaybookId,
        sample: Annotated[int, Query(ge=0, le=100)] = 20,
        tags: Annotated[list[str] | None, Query(max_length=50)] = None,
    ) -> Any:
        """How many customers would enrol now (none is enrolled) and a sample of them."""
        playbook = await playbooks.get(playbook_id)
        if playbook is None:
            raise ProblemError(404, f"no playbook {playbook_id!r}")
        try:
            result = await console.preview_count(
                sessions, clock, replay_window, playbook, tags=tags or [], sample=sample, shipped=playbooks.shipped
            )
        except PreviewProblem as exc:
            raise ProblemError(422, str(exc)) from exc
        return jsonable_encoder(result)

    @router.post("/playbooks/{playbook_id}/steps/{step_id}/render", tags=["playbooks"])
    async def render_step(
        _: Reader,
        playbook_id: PlaybookId,
        step_id: Annotated[str, Path(min_length=1, max_length=64)],
        body: RenderBody,
    ) -> Any:
        """The step's message for one customer in German or English, with sender identity and opt-out."""
        playbook = await playbooks.get(playbook_id)
        if playbook is None:
            raise ProblemError(404, f"no playbook {playbook_id!r}")
        request = console.RenderRequest(playbook, step_id, body.customer_id, body.language, body.variant, body.basis)
        try:
            return await console.render_step(sessions, clock, sender, request)
        except console.NotFound as exc:
            raise ProblemError(404, str(exc)) from exc
        except TemplateProblem as exc:
            raise ProblemError(422, f"step {step_id}: {exc}") from exc

    return router
