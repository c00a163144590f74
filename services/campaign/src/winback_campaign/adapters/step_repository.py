"""SQL of the scheduler: claim due steps, record actions; never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import actions, customers, enrollment_steps, enrollments
from winback_campaign.domain.actions import DueStep
from winback_campaign.domain.templates import Recipient


async def claim_due_steps(
    session: AsyncSession, *, now: datetime, address_grace: timedelta, limit: int
) -> list[DueStep]:
    """Pending steps due by `now`, locked; rows another worker holds are skipped, not waited for.

    An e-mail step whose customer has no address yet waits (the profile arrives on another
    topic) until `address_grace` has passed, without taking a place in the batch.
    """
    s, e, c = enrollment_steps, enrollments, customers
    stmt = (
        select(
            s.c.enrollment_id,
            s.c.step_id,
            s.c.channel,
            s.c.template,
            s.c.offer,
            s.c.offer_category,
            s.c.due_at,
            e.c.customer_id,
            e.c.playbook_id,
            e.c.variant,
            c.c.name,
            c.c.email,
            c.c.language,
            c.c.kind,
            c.c.phone,
            c.c.postal_address,
            c.c.account_manager,
            c.c.time_zone,
            c.c.categories,
            s.c.assignee,
            e.c.churn_reason,
            e.c.feature,
        )
        .join(e, e.c.enrollment_id == s.c.enrollment_id)
        .outerjoin(c, c.c.customer_id == e.c.customer_id)
        .where(
            s.c.status == "pending",
            s.c.due_at <= now,
            e.c.status == "active",
            or_(s.c.channel != "email", c.c.email.is_not(None), s.c.due_at <= now - address_grace),
        )
        .order_by(s.c.due_at, s.c.enrollment_id, s.c.position)
        .limit(limit)
        .with_for_update(of=s, skip_locked=True)
    )
    return [
        DueStep(
            enrollment_id=r.enrollment_id,
            step_id=r.step_id,
            customer_id=r.customer_id,
            playbook_id=r.playbook_id,
            variant=r.variant,
            channel=r.channel,
            template=r.template,
            offer=r.offer,
            offer_category=r.offer_category,
            due_at=r.due_at,
            recipient=Recipient(
                name=r.name,
                email=r.email,
                language=r.language,
                kind=r.kind,
                phone=r.phone,
                postal_address=r.postal_address,
                account_manager=r.account_manager,
                categories=tuple(r.categories or ()),
            ),
            assignee=r.assignee,
            churn_reason=r.churn_reason,
            feature=r.feature,
            time_zone=r.time_zone,
        )
        for r in await session.execute(stmt)
    ]


async def recent_contacts(
    session: AsyncSession, customer_ids: Iterable[str], since: datetime
) -> dict[str, list[datetime]]:
    """Times of the advertising contacts made per customer since `since`, across all playbooks."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    a = actions
    rows = await session.execute(
        select(a.c.customer_id, a.c.created_at).where(
            a.c.customer_id.in_(ids), a.c.status == "triggered", a.c.created_at > since
        )
    )
    out: dict[str, list[datetime]] = {}
    for r in rows:
        out.setdefault(r.customer_id, []).append(r.created_at)
    return out


async def reschedule(session: AsyncSession, moves: Sequence[tuple[str, str, datetime, str]]) -> None:
    """Move (enrollment_id, step_id) to a later due time, keeping it pending, with the reason it waits."""
    if not moves:
        return
    s = enrollment_steps
    stmt = (
        update(s)
        .where(and_(s.c.enrollment_id == bindparam("b_enrollment"), s.c.step_id == bindparam("b_step")))
        .values(due_at=bindparam("b_due"), reason=bindparam("b_reason"))
    )
    connection = await session.connection()
    await connection.execute(
        stmt, [{"b_enrollment": e, "b_step": st, "b_due": due, "b_reason": r} for e, st, due, r in moves]
    )


async def record_actions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert actions; an action id seen before is left alone (one action per enrolment and step)."""
    if rows:
        await session.execute(insert(actions).on_conflict_do_nothing(), list(rows))


async def settle_steps(session: AsyncSession, outcomes: Sequence[tuple[str, str, str, str | None, str]]) -> None:
    """Set (enrollment_id, step_id) -> status, reason, action id for each outcome."""
    if not outcomes:
        return
    s = enrollment_steps
    stmt = (
        update(s)
        .where(and_(s.c.enrollment_id == bindparam("b_enrollment"), s.c.step_id == bindparam("b_step")))
        .values(status=bindparam("b_status"), reason=bindparam("b_reason"), action_id=bindparam("b_action"))
    )
    # Core executemany on the session's connection: one prepared statement for all outcomes.
    connection = await session.connection()
    await connection.execute(
        stmt,
        [
            {"b_enrollment": eid, "b_step": sid, "b_status": status, "b_reason": reason, "b_action": action_id}
            for eid, sid, status, reason, action_id in outcomes
        ],
    )
