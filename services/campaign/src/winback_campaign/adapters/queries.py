"""Read-side SQL for the HTTP API (actions and enrolments)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import actions, customers, enrollment_steps, enrollments

ACTION_FIELDS = (
    "action_id",
    "customer_id",
    "status",
    "channel",
    "template",
    "variant",
    "offer",
    "reason",
    "content",
    "recipient",
    "due_at",
    "created_at",
    "playbook_id",
    "enrollment_id",
)


async def list_actions(
    session: AsyncSession,
    *,
    customer_id: str | None,
    playbook_id: str | None,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    """Newest first; `after` is the (created_at, action_id) of the last item of the previous page."""
    a = actions
    stmt = select(*(a.c[f] for f in ACTION_FIELDS))
    if customer_id is not None:
        stmt = stmt.where(a.c.customer_id == customer_id)
    if playbook_id is not None:
        stmt = stmt.where(a.c.playbook_id == playbook_id)
    if status is not None:
        stmt = stmt.where(a.c.status == status)
    if after is not None:
        stmt = stmt.where(tuple_(a.c.created_at, a.c.action_id) < tuple_(*after))
    stmt = stmt.order_by(a.c.created_at.desc(), a.c.action_id.desc()).limit(limit)
    return [dict(row._mapping) for row in await session.execute(stmt)]


async def customer_enrollments(session: AsyncSession, customer_id: str) -> list[dict[str, Any]]:
    """Every enrolment of the customer, newest first, with its steps in playbook order."""
    e, s = enrollments, enrollment_steps
    rows = (
        await session.execute(
            select(
                e.c.enrollment_id,
                e.c.playbook_id,
                e.c.variant,
                e.c.holdout,
                e.c.status,
                e.c.exit_reason,
                e.c.started_at,
            )
            .where(e.c.customer_id == customer_id)
            .order_by(e.c.started_at.desc(), e.c.enrollment_id)
        )
    ).all()
    items = {r.enrollment_id: {**r._mapping, "steps": []} for r in rows}
    if items:
        steps = await session.execute(
            select(s.c.enrollment_id, s.c.step_id, s.c.channel, s.c.due_at, s.c.status, s.c.reason)
            .where(s.c.enrollment_id.in_(list(items)))
            .order_by(s.c.enrollment_id, s.c.position)
        )
        for step in steps:
            items[step.enrollment_id]["steps"].append({k: v for k, v in step._mapping.items() if k != "enrollment_id"})
    return list(items.values())


async def customers_with_status(
    session: AsyncSession, *, status: str, since: datetime, limit: int
) -> list[dict[str, Any]]:
    """Customers whose latest status change is `status` at or after `since`."""
    c = customers
    rows = await session.execute(
        select(
            c.c.customer_id,
            c.c.status,
            c.c.status_at,
            c.c.churn_reason,
            c.c.segment,
            c.c.value_tier,
            c.c.winback_eligible,
            c.c.kind,
            c.c.time_zone,
            c.c.state,
        )
        .where(c.c.status == status, c.c.status_at >= since)
        .order_by(c.c.status_at.desc(), c.c.customer_id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


async def active_customers(session: AsyncSession, customer_ids: list[str]) -> set[str]:
    """Which of the customers have an active enrolment (read only, no locks)."""
    if not customer_ids:
        return set()
    e = enrollments
    rows = await session.execute(
        select(e.c.customer_id).where(e.c.customer_id.in_(customer_ids), e.c.status == "active")
    )
    return {r.customer_id for r in rows}
