"""SQL for profiles and enrolments; runs inside the caller's transaction, never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, cast, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import actions, customers, enrollment_steps, enrollments
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.enrollment import SCORED_STATUSES, EnrollmentPlan, PastEnrollment, StatusChange, supersedes

PROFILE_FIELDS = (
    "name",
    "email",
    "language",
    "kind",
    "phone",
    "postal_address",
    "account_manager",
    "time_zone",
    "state",
)
# Set-valued fields: a new value is added to what is stored.
SET_FIELDS = ("categories", "wishes")
IDS = bindparam("ids", type_=ARRAY(String))
STATUS_FIELDS = ("status", "status_at", "churn_reason", "segment", "value_tier", "winback_eligible")


def _union(column: str) -> Any:
    # Strings only: a JSON `null` on either side (the value an absent set was once stored as) would
    # otherwise be appended as an element, and `", ".join` in a template crashed the scheduler on it.
    return literal_column(
        f"(SELECT coalesce(jsonb_agg(DISTINCT v), '[]'::jsonb) FROM jsonb_array_elements("
        f"{_array(f'campaign.customers.{column}')} || {_array(f'excluded.{column}')}) v "
        "WHERE jsonb_typeof(v) = 'string')"
    )


def _array(value: str) -> str:
    """The stored JSON as an array: SQL NULL, JSON null or any non-array is the empty one."""
    return f"(CASE WHEN jsonb_typeof({value}) = 'array' THEN {value} ELSE '[]'::jsonb END)"


async def upsert_profiles(session: AsyncSession, profiles: dict[str, dict[str, Any]], now: datetime) -> None:
    """Later values win per field; a field an event leaves out keeps its stored value; sets grow."""
    if not profiles:
        return
    rows = [
        {
            "customer_id": cid,
            **{f: p.get(f) for f in PROFILE_FIELDS},
            **{f: sorted(p[f]) if p.get(f) else None for f in SET_FIELDS},
            "updated_at": now,
        }
        for cid, p in sorted(profiles.items())
    ]
    stmt = insert(customers).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[customers.c.customer_id],
        set_={
            **{f: func.coalesce(stmt.excluded[f], customers.c[f]) for f in PROFILE_FIELDS},
            **{f: _union(f) for f in SET_FIELDS},
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def record_statuses(session: AsyncSession, changes: Sequence[StatusChange], now: datetime) -> None:
    """Keep each customer's current status change for previews and feature releases (`supersedes`)."""
    latest: dict[str, StatusChange] = {}
    for c in changes:
        kept = latest.get(c.customer_id)
        if kept is None or supersedes(c.to, c.at, kept.to, kept.at):
            latest[c.customer_id] = c
    if not latest:
        return
    rows = [
        {
            "customer_id": c.customer_id,
            "status": c.to,
            "status_at": c.at,
            "churn_reason": c.churn_reason,
            "segment": c.segment,
            "value_tier": c.value_tier,
            "winback_eligible": c.winback_eligible,
            "updated_at": now,
        }
        for c in sorted(latest.values(), key=lambda c: c.customer_id)
    ]
    stmt = insert(customers).values(rows)
    newer = or_(
        customers.c.status_at.is_(None),
        stmt.excluded.status_at >= customers.c.status_at,
        and_(stmt.excluded.status == "churned", customers.c.status.in_(sorted(SCORED_STATUSES))),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[customers.c.customer_id],
        set_={f: stmt.excluded[f] for f in STATUS_FIELDS},
        where=newer,
    )
    await session.execute(stmt)


async def customer_facts(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Kind, time zone and state per customer (what step conditions and quiet hours read)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(customers.c.customer_id, customers.c.kind, customers.c.time_zone, customers.c.state).where(
            customers.c.customer_id.in_(ids)
        )
    )
    return {r.customer_id: {"kind": r.kind, "time_zone": r.time_zone, "state": r.state} for r in rows}


async def release_candidates(session: AsyncSession, tags: Sequence[str]) -> list[dict[str, Any]]:
    """Eligible feature-gap leavers whose recorded wishes share a tag with the release."""
    wanted = sorted({t.lower() for t in tags})
    if not wanted:
        return []
    c = customers
    rows = await session.execute(
        select(c.c.customer_id, c.c.segment, c.c.value_tier, c.c.kind, c.c.time_zone, c.c.state, c.c.winback_eligible)
        .where(
            c.c.status == "churned",
            c.c.churn_reason == "feature_gap",
            c.c.wishes.op("?|")(cast(wanted, ARRAY(String))),
        )
        .order_by(c.c.customer_id)
    )
    return [dict(r._mapping) for r in rows]


async def active_enrollments(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, ActiveEnrollment]:
    """The active enrolment per customer, locked so a concurrent batch cannot change it meanwhile."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(enrollments.c.enrollment_id, enrollments.c.customer_id, enrollments.c.playbook_id, enrollments.c.variant)
        .where(enrollments.c.customer_id.in_(ids), enrollments.c.status == "active")
        .order_by(enrollments.c.customer_id)
        .with_for_update()
    )
    return {r.customer_id: ActiveEnrollment(r.enrollment_id, r.customer_id, r.playbook_id, r.variant) for r in rows}


async def history(
    session: AsyncSession, customer_ids: Iterable[str], since: datetime
) -> dict[str, list[PastEnrollment]]:
    """Enrolments started or ended since `since`, per customer (the eligibility rules' memory)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    e = enrollments
    rows = await session.execute(
        select(
            e.c.customer_id, e.c.playbook_id, e.c.holdout, e.c.status, e.c.exit_reason, e.c.started_at, e.c.ended_at
        ).where(e.c.customer_id.in_(ids), or_(e.c.started_at >= since, e.c.ended_at >= since))
    )
    out: dict[str, list[PastEnrollment]] = {}
    for r in rows:
        out.setdefault(r.customer_id, []).append(
            PastEnrollment(r.playbook_id, r.holdout, r.status, r.exit_reason, r.started_at, r.ended_at)
        )
    return out


async def enrollment_of_actions(session: AsyncSession, action_ids: Iterable[str]) -> dict[str, str]:
    """The enrolment each action belongs to."""
    ids = sorted(set(action_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(actions.c.action_id, actions.c.enrollment_id).where(actions.c.action_id.in_(ids))
    )
    return {r.action_id: r.enrollment_id for r in rows}


async def record_reports(session: AsyncSession, reports: Sequence[tuple[str, str, datetime]]) -> None:
    """Keep each call task's or letter's first report by its tool, `(action_id, outcome, at)`: the task is done.

    Order-free: an earlier report replaces a later one that arrived first, so replays and
    redeliveries end with the same row.
    """
    earliest: dict[str, tuple[str, datetime]] = {}
    for action_id, outcome, at in reports:
        if action_id not in earliest or at < earliest[action_id][1]:
            earliest[action_id] = (outcome, at)
    if not earliest:
        return
    ids = sorted(earliest)
    await session.execute(
        text(
            "UPDATE campaign.actions a SET reported_outcome = u.outcome, reported_at = u.at "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:outcomes AS varchar[]), CAST(:ats AS timestamptz[])) "
            "AS u(action_id, outcome, at) "
            "WHERE a.action_id = u.action_id AND a.status = 'triggered' AND a.channel IN ('phone', 'post') "
            "AND (a.reported_at IS NULL OR u.at < a.reported_at)"
        ),
        {"ids": ids, "outcomes": [earliest[i][0] for i in ids], "ats": [earliest[i][1] for i in ids]},
    )


async def insert_enrollments(
    session: AsyncSession, plans: Sequence[EnrollmentPlan], exits: dict[str, str], now: datetime
) -> None:
    """Write enrolments with their steps; one exited in the same batch is written exited."""
    if not plans:
        return
    enrollment_rows = []
    step_rows = []
    for plan in plans:
        exit_reason = exits.get(plan.enrollment_id)
        any_pending = exit_reason is None and any(s.skipped_reason is None for s in plan.steps)
        status = "exited" if exit_reason else ("active" if any_pending else "completed")
        enrollment_rows.append(
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
                "churn_reason": plan.churn_reason,
                "feature": plan.feature,
                "attributed_action_id": None,
                "cause_source": plan.caused_by[0] if plan.caused_by else None,
                "cause_id": plan.caused_by[1] if plan.caused_by else None,
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
                    "reason": reason or planned.wait_reason,
                    "action_id": None,
                    "assignee": planned.step.assignee,
                }
            )
    await session.execute(insert(enrollments).on_conflict_do_nothing(), enrollment_rows)
    if step_rows:
        await session.execute(insert(enrollment_steps).on_conflict_do_nothing(), step_rows)


async def last_triggered_actions(session: AsyncSession, enrollment_ids: Iterable[str]) -> dict[str, str]:
    """The newest triggered action per enrolment: what a return is attributed to."""
    ids = sorted(set(enrollment_ids))
    if not ids:
        return {}
    a = actions
    rows = await session.execute(
        select(a.c.enrollment_id, a.c.action_id)
        .where(a.c.enrollment_id.in_(ids), a.c.status == "triggered")
        .order_by(a.c.enrollment_id, a.c.created_at.desc(), a.c.action_id.desc())
        .distinct(a.c.enrollment_id)
    )
    return {r.enrollment_id: r.action_id for r in rows}


async def exit_enrollments(
    session: AsyncSession, exits: dict[str, str], now: datetime, attributed: dict[str, str] | None = None
) -> None:
    """End active enrolments at once and cancel every pending step (two statements for the batch)."""
    if not exits:
        return
    attributed = attributed or {}
    params = [
        {"b_id": eid, "b_reason": reason, "b_action": attributed.get(eid)} for eid, reason in sorted(exits.items())
    ]
    connection = await session.connection()
    e, s = enrollments, enrollment_steps
    await connection.execute(
        update(e)
        .where(and_(e.c.enrollment_id == bindparam("b_id"), e.c.status == "active"))
        .values(
            exit_reason=bindparam("b_reason"), ended_at=now, status="exited", attributed_action_id=bindparam("b_action")
        ),
        params,
    )
    await connection.execute(
        update(s)
        .where(and_(s.c.enrollment_id == bindparam("b_id"), s.c.status == "pending"))
        .values(status="skipped", reason=bindparam("b_reason")),
        [{"b_id": p["b_id"], "b_reason": p["b_reason"]} for p in params],
    )


async def lock_status(session: AsyncSession, enrollment_id: str) -> str | None:
    """The enrolment's status, its row locked until the transaction ends (None: no such enrolment)."""
    status: str | None = await session.scalar(
        select(enrollments.c.status).where(enrollments.c.enrollment_id == enrollment_id).with_for_update()
    )
    return status


async def action_origin(session: AsyncSession, action_id: str) -> tuple[str, ActiveEnrollment] | None:
    """The channel of an action and the enrolment it was sent in (None: no such action)."""
    a = actions
    row = (
        await session.execute(
            select(a.c.customer_id, a.c.channel, a.c.enrollment_id, a.c.playbook_id, a.c.variant).where(
                a.c.action_id == action_id
            )
        )
    ).first()
    if row is None:
        return None
    return row.channel, ActiveEnrollment(row.enrollment_id, row.customer_id, row.playbook_id, row.variant or "")


async def complete_finished(session: AsyncSession, enrollment_ids: Iterable[str], now: datetime) -> None:
    """Active enrolments without pending steps are completed."""
    ids = sorted(set(enrollment_ids))
    if not ids:
        return
    pending = select(enrollment_steps.c.enrollment_id).where(
        enrollment_steps.c.enrollment_id == enrollments.c.enrollment_id, enrollment_steps.c.status == "pending"
    )
    # One array parameter instead of an expanded IN list of a whole round's ids.
    await session.execute(
        update(enrollments)
        .where(enrollments.c.enrollment_id == any_(IDS), enrollments.c.status == "active", ~pending.exists())
        .values(status="completed", ended_at=now),
        {"ids": ids},
    )
