"""SQL of the scheduler: claim due steps, record actions; never commits."""

from __future__ import annotations

from collections.abc import Sequence
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
            recipient=Recipient(name=r.name, email=r.email, language=r.language, kind=r.kind),
        )
        for r in await session.execute(stmt)
    ]


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
