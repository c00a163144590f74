"""Read-side SQL for the console: search, the customer's campaign timeline, today's tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import action_outcomes, actions, customers, enrollment_steps, enrollments
from winback_shared.timeline import Before, Entry, newest_first, older_than

TASK_CHANNELS = ("phone", "post")


def _like_pattern(text: str) -> str:
    """`text` as a literal LIKE fragment (its % and _ match themselves)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_customers(session: AsyncSession, q: str, limit: int) -> list[dict[str, Any]]:
    """Id prefix, name or e-mail substring (case-insensitive); exact id first, then prefixes, then by name."""
    c = customers
    fragment = _like_pattern(q)
    lowered = func.lower(c.c.customer_id)
    rank = case(
        (lowered == q.lower(), 0),
        (lowered.like(f"{fragment.lower()}%", escape="\\"), 1),
        else_=2,
    )
    stmt = (
        select(
            c.c.customer_id,
            c.c.name,
            c.c.email,
            c.c.kind,
            c.c.language,
            c.c.account_manager,
            c.c.status,
            c.c.churn_reason,
            c.c.segment,
            c.c.value_tier,
        )
        .where(
            or_(
                lowered.like(f"{fragment.lower()}%", escape="\\"),
                c.c.name.ilike(f"%{fragment}%", escape="\\"),
                c.c.email.ilike(f"%{fragment}%", escape="\\"),
            )
        )
        .order_by(rank, func.lower(c.c.name).nulls_last(), c.c.customer_id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in await session.execute(stmt)]


async def timeline_entries(session: AsyncSession, customer_id: str, before: Before | None, limit: int) -> list[Entry]:
    """The newest `limit` items of each source older than `before` (the caller merges and pages them)."""
    e, a, o = enrollments, actions, action_outcomes
    entries: list[Entry] = []

    started_key = literal("enrolled:").concat(e.c.enrollment_id)
    rows = await session.execute(
        select(e, started_key.label("k"))
        .where(e.c.customer_id == customer_id, older_than(e.c.started_at, started_key, before))
        .order_by(*newest_first(e.c.started_at, started_key))
        .limit(limit)
    )
    for r in rows:
        details = {
            "enrollment_id": r.enrollment_id,
            "playbook_id": r.playbook_id,
            "playbook_version": r.playbook_version,
            "variant": r.variant,
            "holdout": r.holdout,
        }
        entries.append(Entry(r.started_at, r.k, {"type": "enrolled", "ref": r.enrollment_id, "details": details}))

    ended_key = literal("ended:").concat(e.c.enrollment_id)
    rows = await session.execute(
        select(e, ended_key.label("k"))
        .where(e.c.customer_id == customer_id, e.c.ended_at.is_not(None), older_than(e.c.ended_at, ended_key, before))
        .order_by(*newest_first(e.c.ended_at, ended_key))
        .limit(limit)
    )
    for r in rows:
        details = {"enrollment_id": r.enrollment_id, "playbook_id": r.playbook_id}
        if r.status == "exited":
            details["exit_reason"] = r.exit_reason
        kind = "exited" if r.status == "exited" else "completed"
        entries.append(Entry(r.ended_at, r.k, {"type": kind, "ref": r.enrollment_id, "details": details}))

    action_key = literal("action:").concat(a.c.action_id)
    rows = await session.execute(
        select(a, action_key.label("k"))
        .where(a.c.customer_id == customer_id, older_than(a.c.created_at, action_key, before))
        .order_by(*newest_first(a.c.created_at, action_key))
        .limit(limit)
    )
    for r in rows:
        entries.append(Entry(r.created_at, r.k, _action_item(r._mapping)))

    outcome_key = literal("outcome:").concat(o.c.action_id)
    rows = await session.execute(
        select(o, a.c.channel, outcome_key.label("k"))
        .join(a, a.c.action_id == o.c.action_id)
        .where(o.c.customer_id == customer_id, older_than(o.c.recorded_at, outcome_key, before))
        .order_by(*newest_first(o.c.recorded_at, outcome_key))
        .limit(limit)
    )
    for r in rows:
        details = {"action_id": r.action_id, "channel": r.channel, "outcome": r.outcome, "note": r.note}
        entries.append(Entry(r.recorded_at, r.k, {"type": "outcome_recorded", "ref": r.action_id, "details": details}))
    return entries


def _action_item(r: Any) -> dict[str, Any]:
    base = {
        "action_id": r["action_id"],
        "enrollment_id": r["enrollment_id"],
        "playbook_id": r["playbook_id"],
        "step_id": r["step_id"],
        "channel": r["channel"],
        "template": r["template"],
        "variant": r["variant"],
    }
    if r["status"] == "suppressed":
        return {"type": "action_suppressed", "ref": r["action_id"], "details": {**base, "reason": r["reason"]}}
    consent = r["consent"] or {}
    details = {
        **base,
        "offer": r["offer"],
        "due_at": r["due_at"].isoformat(),
        "content": r["content"],
        "recipient": r["recipient"],
        "consent": {"basis": consent.get("basis"), "evidence_ids": consent.get("evidence_ids", [])},
    }
    return {"type": "action_triggered", "ref": r["action_id"], "details": details}


async def tasks(
    session: AsyncSession,
    *,
    due_before: datetime,
    channels: tuple[str, ...],
    status: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Any]:
    """Triggered phone and letter actions due before `due_before`, oldest due first, with profile and outcome."""
    a, c, o, s = actions, customers, action_outcomes, enrollment_steps
    stmt = (
        select(
            a.c.action_id,
            a.c.customer_id,
            a.c.channel,
            a.c.due_at,
            a.c.created_at,
            a.c.template,
            a.c.offer,
            a.c.content,
            a.c.consent,
            a.c.playbook_id,
            a.c.enrollment_id,
            a.c.step_id,
            s.c.assignee,
            c.c.name,
            c.c.email,
            c.c.phone,
            c.c.postal_address,
            c.c.language,
            c.c.kind,
            c.c.account_manager,
            c.c.churn_reason,
            c.c.segment,
            c.c.value_tier,
            c.c.status.label("customer_status"),
            o.c.outcome,
            o.c.note,
            o.c.recorded_at,
            a.c.reported_outcome,
            a.c.reported_at,
        )
        .outerjoin(c, c.c.customer_id == a.c.customer_id)
        .outerjoin(o, o.c.action_id == a.c.action_id)
        .outerjoin(s, (s.c.enrollment_id == a.c.enrollment_id) & (s.c.step_id == a.c.step_id))
        .where(a.c.status == "triggered", a.c.channel.in_(channels), a.c.due_at < due_before)
    )
    # Done: a person recorded an outcome, or the tool that executed it reported one.
    if status == "open":
        stmt = stmt.where(o.c.action_id.is_(None), a.c.reported_outcome.is_(None))
    elif status == "done":
        stmt = stmt.where(or_(o.c.action_id.is_not(None), a.c.reported_outcome.is_not(None)))
    if after is not None:
        stmt = stmt.where(tuple_(a.c.due_at, a.c.action_id) > tuple_(*after))
    stmt = stmt.order_by(a.c.due_at, a.c.action_id).limit(limit)
    return list((await session.execute(stmt)).all())
