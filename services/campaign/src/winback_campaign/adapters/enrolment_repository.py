"""SQL for profiles and enrolments; runs inside the caller's transaction, never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import customers, enrollment_steps, enrollments
from winback_campaign.domain.batch import ActiveEnrolment
from winback_campaign.domain.enrolment import EnrolmentPlan

PROFILE_FIELDS = ("name", "email", "language", "kind")


async def upsert_profiles(session: AsyncSession, profiles: dict[str, dict[str, Any]], now: datetime) -> None:
    """Later values win per field; a field an event leaves out keeps its stored value."""
    if not profiles:
        return
    rows = [
        {"customer_id": cid, **{f: p.get(f) for f in PROFILE_FIELDS}, "updated_at": now} for cid, p in profiles.items()
    ]
    stmt = insert(customers).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[customers.c.customer_id],
        set_={
            **{f: func.coalesce(stmt.excluded[f], customers.c[f]) for f in PROFILE_FIELDS},
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def active_enrolments(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, ActiveEnrolment]:
    """The active enrolment per customer, locked so a concurrent batch cannot change it meanwhile."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(enrollments.c.enrollment_id, enrollments.c.customer_id, enrollments.c.playbook_id, enrollments.c.variant)
        .where(enrollments.c.customer_id.in_(ids), enrollments.c.status == "active")
        .with_for_update()
    )
    return {r.customer_id: ActiveEnrolment(r.enrollment_id, r.customer_id, r.playbook_id, r.variant) for r in rows}


async def insert_enrolments(
    session: AsyncSession, plans: Sequence[EnrolmentPlan], exits: dict[str, str], now: datetime
) -> None:
    """Write enrolments with their steps; one exited in the same batch is written exited."""
    if not plans:
        return
    enrolment_rows = []
    step_rows = []
    for plan in plans:
        exit_reason = exits.get(plan.enrollment_id)
        any_pending = exit_reason is None and any(s.skipped_reason is None for s in plan.steps)
        status = "exited" if exit_reason else ("active" if any_pending else "completed")
        enrolment_rows.append(
            {
                "enrollment_id": plan.enrollment_id,
                "customer_id": plan.customer_id,
                "playbook_id": plan.playbook.playbook_id,
                "playbook_version": plan.playbook.version,
                "variant": plan.variant,
                "holdout": plan.holdout,
                "status": status,
                "exit_reason": exit_reason,
                "trigger_at": plan.trigger_at,
                "started_at": now,
                "ended_at": None if status == "active" else now,
            }
        )
        for position, planned in enumerate(plan.steps):
            reason = exit_reason or planned.skipped_reason
            step_rows.append(
                {
                    "enrollment_id": plan.enrollment_id,
                    "step_id": planned.step.step_id,
                    "position": position,
                    "channel": planned.step.channel,
                    "template": planned.step.template,
                    "offer": planned.step.offer,
                    "offer_category": planned.step.offer_category,
                    "due_at": planned.due_at,
                    "status": "skipped" if reason else "pending",
                    "reason": reason,
                    "action_id": None,
                }
            )
    await session.execute(insert(enrollments).on_conflict_do_nothing(), enrolment_rows)
    if step_rows:
        await session.execute(insert(enrollment_steps).on_conflict_do_nothing(), step_rows)


async def exit_enrolments(session: AsyncSession, exits: dict[str, str], now: datetime) -> None:
    """End active enrolments at once and cancel every pending step."""
    for enrollment_id, reason in exits.items():
        await session.execute(
            update(enrollments)
            .where(enrollments.c.enrollment_id == enrollment_id, enrollments.c.status == "active")
            .values(status="exited", exit_reason=reason, ended_at=now)
        )
        await session.execute(
            update(enrollment_steps)
            .where(enrollment_steps.c.enrollment_id == enrollment_id, enrollment_steps.c.status == "pending")
            .values(status="skipped", reason=reason)
        )


async def complete_finished(session: AsyncSession, enrollment_ids: Iterable[str], now: datetime) -> None:
    """Active enrolments without pending steps are completed."""
    ids = sorted(set(enrollment_ids))
    if not ids:
        return
    pending = select(enrollment_steps.c.enrollment_id).where(
        enrollment_steps.c.enrollment_id == enrollments.c.enrollment_id, enrollment_steps.c.status == "pending"
    )
    await session.execute(
        update(enrollments)
        .where(enrollments.c.enrollment_id.in_(ids), enrollments.c.status == "active", ~pending.exists())
        .values(status="completed", ended_at=now)
    )
