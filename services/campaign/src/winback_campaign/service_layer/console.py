"""What the console reads from campaign: search, the customer's timeline, today's tasks, previews and renders."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import console_queries as q
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters.tables import customers
from winback_campaign.domain.playbooks import FEATURE_RELEASED, Playbook
from winback_campaign.domain.templates import Personalisation, Recipient, SenderIdentity, render
from winback_campaign.service_layer.preview import preview
from winback_shared.clock import Clock
from winback_shared.timeline import decode_before, page

# A preview counts over at most this many candidates (the answer says when there were more).
PREVIEW_CAP = 10_000


class InvalidCursor(ValueError):
    """The cursor was not produced by this API."""


class NotFound(LookupError):
    """The playbook, step, variant or customer named does not exist."""


async def search(sessions: async_sessionmaker[AsyncSession], text: str, limit: int) -> dict[str, Any]:
    async with sessions() as session:
        return {"items": await q.search_customers(session, text, limit)}


async def timeline(
    sessions: async_sessionmaker[AsyncSession], customer_id: str, *, limit: int, before: str | None
) -> dict[str, Any]:
    """Enrolments, exits, actions with their rendered content and consent basis, recorded outcomes; newest first."""
    position = decode_before(before) if before is not None else None
    async with sessions() as session:
        entries = await q.timeline_entries(session, customer_id, position, limit + 1)
    items, next_before = page(entries, limit)
    return {"customer_id": customer_id, "items": items, "next_before": next_before}


def _encode_task_cursor(due_at: datetime, action_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([due_at.isoformat(), action_id]).encode()).decode().rstrip("=")


def _decode_task_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        due_at, action_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(due_at)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        moment = moment.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not a next_cursor this API issued") from exc
    # Decoded after the request's text rule ran: no NUL and no oversized id reaches SQL.
    if not isinstance(action_id, str) or len(action_id) > 64 or "\x00" in action_id:
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not a next_cursor this API issued")
    return moment, action_id


def _assignee(channel: str, step_assignee: str | None, account_manager: str | None) -> tuple[str, str | None]:
    """Who does the task: letters go to the print house; a call to the account manager when there is one."""
    if channel == "post":
        return "print_house", None
    if step_assignee == "account_manager" and account_manager:
        return "account_manager", account_manager
    return "call_centre", None


def _task(r: Any) -> dict[str, Any]:
    assignee, assignee_name = _assignee(r.channel, r.assignee, r.account_manager)
    content = r.content or {}
    consent = r.consent or {}
    return {
        "action_id": r.action_id,
        "customer_id": r.customer_id,
        "channel": r.channel,
        "due_at": r.due_at.isoformat(),
        "created_at": r.created_at.isoformat(),
        "status": "done" if r.outcome is not None or r.reported_outcome is not None else "open",
        "assignee": assignee,
        "assignee_name": assignee_name,
        "customer": {
            "name": r.name,
            "email": r.email,
            "phone": r.phone,
            "postal_address": r.postal_address,
            "language": r.language,
            "kind": r.kind,
        },
        "churn_reason": r.churn_reason,
        "segment": r.segment,
        "value_tier": r.value_tier,
        "customer_status": r.customer_status,
        "consent": {"basis": consent.get("basis"), "evidence_ids": consent.get("evidence_ids", [])},
        "talking_points": {
            "language": content.get("language"),
            "subject": content.get("subject"),
            "body": content.get("body"),
        },
        "offer": r.offer,
        "playbook_id": r.playbook_id,
        "enrollment_id": r.enrollment_id,
        "step_id": r.step_id,
        "template": r.template,
        "outcome": None
        if r.outcome is None
        else {"outcome": r.outcome, "note": r.note, "recorded_at": r.recorded_at.isoformat()},
        # What the executing tool (print house, call-centre system) reported, as `campaign.response`.
        "reported": None
        if r.reported_outcome is None
        else {"outcome": r.reported_outcome, "at": r.reported_at.isoformat()},
    }


async def tasks(
    sessions: async_sessionmaker[AsyncSession],
    *,
    due_before: datetime,
    channels: tuple[str, ...],
    status: str,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Call tasks and letters due before `due_before`, oldest due first, one page."""
    after = _decode_task_cursor(cursor) if cursor is not None else None
    async with sessions() as session:
        rows = await q.tasks(
            session, due_before=due_before, channels=channels, status=status, limit=limit + 1, after=after
        )
    shown = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [_task(r) for r in shown],
        "next_cursor": _encode_task_cursor(shown[-1].due_at, shown[-1].action_id) if more and shown else None,
    }


async def _candidate_count(session: AsyncSession, playbook: Playbook, since: datetime, tags: Sequence[str]) -> int:
    if playbook.trigger.event == FEATURE_RELEASED:
        return len(await repo.release_candidates(session, tags))
    c = customers
    stmt = select(func.count()).where(c.c.status == (playbook.trigger.status or ""), c.c.status_at >= since)
    return int(await session.scalar(stmt) or 0)


async def preview_count(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    replay_window: timedelta,
    playbook: Playbook,
    *,
    tags: Sequence[str],
    sample: int,
    shipped: Sequence[Playbook],
) -> dict[str, Any]:
    """How many would enrol now (over at most PREVIEW_CAP candidates) and a sample of them with names."""
    result = await preview(
        sessions, clock, replay_window, playbook.playbook_id, tags=tags, limit=PREVIEW_CAP, shipped=shipped
    )
    assert result is not None  # the caller found the playbook
    items = result["items"]
    chosen = items[:sample]
    ids = [i["customer_id"] for i in chosen]
    async with sessions() as session:
        candidates = await _candidate_count(session, playbook, clock.now() - replay_window, tags)
        rows = await session.execute(
            select(
                customers.c.customer_id,
                customers.c.name,
                customers.c.churn_reason,
                customers.c.segment,
                customers.c.value_tier,
            ).where(customers.c.customer_id.in_(ids))
        )
        profiles = {r.customer_id: r for r in rows}
    fields = ("name", "churn_reason", "segment", "value_tier")

    def profile(customer_id: str) -> dict[str, Any]:
        found = profiles.get(customer_id)
        return {k: getattr(found, k) if found is not None else None for k in fields}

    return {
        "playbook_id": result["playbook_id"],
        "version": result["version"],
        "as_of": result["as_of"],
        "count": len(items),
        "capped": candidates > PREVIEW_CAP,
        "sample": [
            {
                "customer_id": i["customer_id"],
                **profile(i["customer_id"]),
                "variant": i["variant"],
                "holdout": i["holdout"],
                "steps": i["steps"],
            }
            for i in chosen
        ],
    }


@dataclass(frozen=True, slots=True)
class RenderRequest:
    playbook: Playbook
    step_id: str
    customer_id: str
    language: str
    variant: str | None
    basis: str


async def render_step(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    sender: SenderIdentity,
    request: RenderRequest,
) -> dict[str, Any]:
    """The step's message for this customer as it would go out now, footer (sender, opt-out) included.

    Raises NotFound for an unknown step, variant or customer and TemplateProblem when it cannot render.
    """
    playbook = request.playbook
    if request.variant is not None and request.variant not in {v.name for v in playbook.variants}:
        raise NotFound(f"playbook {playbook.playbook_id!r} has no variant {request.variant!r}")
    steps = playbook.steps_for(request.variant) if request.variant is not None else playbook.steps
    step = next((s for s in steps if s.step_id == request.step_id), None)
    if step is None:
        raise NotFound(f"playbook {playbook.playbook_id!r} has no step {request.step_id!r}")
    async with sessions() as session:
        row = (await session.execute(select(customers).where(customers.c.customer_id == request.customer_id))).first()
    if row is None:
        raise NotFound(f"customer {request.customer_id!r} is unknown to campaign")
    recipient = Recipient(
        name=row.name,
        email=row.email,
        language=request.language,
        kind=row.kind,
        phone=row.phone,
        postal_address=row.postal_address,
        account_manager=row.account_manager,
        categories=tuple(c for c in row.categories or () if isinstance(c, str)),
    )
    own = playbook.templates.get(step.template)
    # The link names no action: following it answers 404, so a preview can never unsubscribe anyone.
    preview_id = f"preview:{playbook.playbook_id}:{step.step_id}"
    content = render(
        step.template,
        recipient,
        sender,
        action_id=preview_id,
        consent_basis=request.basis,
        default_language=request.language,
        personal=Personalisation(reason=row.churn_reason, offer=step.offer),
        due_on=(clock.now() + step.after).date(),
        own=own.model_dump(exclude_none=True) if own is not None else None,
        channel=step.channel,
    )
    return {
        "playbook_id": playbook.playbook_id,
        "version": playbook.version,
        "step_id": step.step_id,
        "channel": step.channel,
        "template": step.template,
        "offer": step.offer,
        "customer_id": request.customer_id,
        "language": content["language"],
        "subject": content["subject"],
        "body": content["body"],
        "html": content.get("html"),
        "sender": content["sender"],
        "opt_out_url": content["opt_out_url"],
    }
