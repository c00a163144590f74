"""SQL of the scheduler: claim due steps, record actions; never commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import (
    actions,
    customers,
    enrollment_steps,
    enrollments,
    playbook_versions,
)
from winback_campaign.domain.actions import ActionOutcome, DueStep
from winback_campaign.domain.templates import Recipient

# Bulk writes bind one array per column (INSERT/UPDATE ... FROM unnest): a multi-row VALUES or an
# executemany costs more in Python than PostgreSQL spends writing (bench/campaign/README.md).
RECENT_CONTACTS = text(
    f"SELECT customer_id, created_at FROM {actions.fullname} "
    "WHERE customer_id = ANY(CAST(:ids AS varchar[])) AND status = 'triggered' AND created_at > :since"
)
JSON_ACTION_COLUMNS = ("content", "recipient", "consent")
ACTION_COLUMNS = (
    "action_id",
    "customer_id",
    "enrollment_id",
    "step_id",
    "playbook_id",
    "status",
    "channel",
    "template",
    "variant",
    "offer",
    "reason",
    *JSON_ACTION_COLUMNS,
    "due_at",
)
INSERT_ACTIONS = text(
    f"INSERT INTO {actions.fullname} ({', '.join(ACTION_COLUMNS)}, created_at) "
    f"SELECT {', '.join(f'CAST({c} AS jsonb)' if c in JSON_ACTION_COLUMNS else c for c in ACTION_COLUMNS)}, "
    "CAST(:created_at AS timestamptz) FROM unnest("
    + ", ".join(
        f"CAST(:{c} AS {'timestamptz' if c == 'due_at' else 'text' if c in JSON_ACTION_COLUMNS else 'varchar'}[])"
        for c in ACTION_COLUMNS
    )
    + f") AS u({', '.join(ACTION_COLUMNS)}) ON CONFLICT DO NOTHING"
)
# Kept pending, later, because consent has not applied the step's cause yet; counts the waits.
HOLD_STEPS = text(
    f"UPDATE {enrollment_steps.fullname} AS s SET due_at = u.due, reason = u.reason, "
    "wait_attempts = s.wait_attempts + 1 "
    "FROM unnest(CAST(:enrollment AS varchar[]), CAST(:step AS varchar[]), CAST(:due AS timestamptz[]), "
    "CAST(:reason AS varchar[])) AS u(enrollment, step, due, reason) "
    "WHERE s.enrollment_id = u.enrollment AND s.step_id = u.step AND s.status = 'pending'"
)
SETTLE_STEPS = text(
    f"UPDATE {enrollment_steps.fullname} AS s SET status = u.status, reason = u.reason, action_id = u.action "
    "FROM unnest(CAST(:enrollment AS varchar[]), CAST(:step AS varchar[]), CAST(:status AS varchar[]), "
    "CAST(:reason AS varchar[]), CAST(:action AS varchar[])) AS u(enrollment, step, status, reason, action) "
    "WHERE s.enrollment_id = u.enrollment AND s.step_id = u.step"
)


# WITH ORDINALITY: identities are drawn in the given order, so events keep their order on the topic.
@dataclass(slots=True)
class ActionColumns:
    """Rows of `actions` as one list per column (JSON columns already serialised)."""

    created_at: datetime
    action_id: list[str] = field(default_factory=list)
    customer_id: list[str] = field(default_factory=list)
    enrollment_id: list[str] = field(default_factory=list)
    step_id: list[str] = field(default_factory=list)
    playbook_id: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    template: list[str] = field(default_factory=list)
    variant: list[str | None] = field(default_factory=list)
    offer: list[str | None] = field(default_factory=list)
    reason: list[str | None] = field(default_factory=list)
    content: list[str | None] = field(default_factory=list)
    recipient: list[str | None] = field(default_factory=list)
    consent: list[str | None] = field(default_factory=list)
    due_at: list[datetime] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*ACTION_COLUMNS, "created_at")}


async def claim_due_steps(
    session: AsyncSession, *, now: datetime, address_grace: timedelta, limit: int
) -> list[DueStep]:
    """Pending steps due by `now`, locked; rows another worker holds are skipped, not waited for.

    An e-mail step whose customer has no address yet waits (the profile arrives on another
    topic) until `address_grace` has passed, without taking a place in the batch.
    """
    s, e, c, v = enrollment_steps, enrollments, customers, playbook_versions
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
            c.c.state,
            c.c.categories,
            s.c.assignee,
            e.c.churn_reason,
            e.c.feature,
            # The enrolment's playbook version's own template of this name (shipped versions have none).
            func.jsonb_extract_path(v.c.document, "templates", s.c.template, type_=JSONB).label("message"),
            e.c.cause_source,
            e.c.cause_id,
            s.c.wait_attempts,
        )
        .join(e, e.c.enrollment_id == s.c.enrollment_id)
        .outerjoin(c, c.c.customer_id == e.c.customer_id)
        .outerjoin(v, and_(v.c.playbook_id == e.c.playbook_id, v.c.version == e.c.playbook_version))
        .where(
            s.c.status == "pending",
            s.c.due_at <= now,
            e.c.status == "active",
            or_(s.c.channel != "email", c.c.email.is_not(None), s.c.due_at <= now - address_grace),
        )
        .order_by(s.c.due_at, s.c.enrollment_id, s.c.position)
        .limit(limit)
        # The enrolments too: the round later ends or completes them, while the consumer
        # locks an enrolment before its steps (an exit). Locking only the steps here made the two
        # wait for each other (38 deadlocks, retried, in 207 days of the 100,000-customer simulation);
        # now the round skips an enrolment the consumer holds and never waits for one.
        .with_for_update(of=(s, e), skip_locked=True)
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
                categories=tuple(c for c in r.categories or () if isinstance(c, str)),
            ),
            assignee=r.assignee,
            churn_reason=r.churn_reason,
            feature=r.feature,
            time_zone=r.time_zone,
            state=r.state,
            message=r.message,
            caused_by=(r.cause_source, r.cause_id) if r.cause_source is not None else None,
            wait_attempts=r.wait_attempts,
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
    rows = await session.execute(RECENT_CONTACTS, {"ids": ids, "since": since})
    out: dict[str, list[datetime]] = {}
    for customer_id, created_at in rows:
        out.setdefault(customer_id, []).append(created_at)
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


async def hold_steps(session: AsyncSession, holds: Sequence[tuple[str, str, datetime, str]]) -> None:
    """Keep (enrollment_id, step_id) pending until `due`, with the reason it waits; counts the wait."""
    if not holds:
        return
    enrollment, step, due, reason = (list(column) for column in zip(*holds, strict=True))
    await session.execute(HOLD_STEPS, {"enrollment": enrollment, "step": step, "due": due, "reason": reason})


async def record_actions(session: AsyncSession, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
    """Insert actions; an action id seen before is left alone (one action per enrolment and step)."""
    if not outcomes:
        return
    rows = ActionColumns(created_at=now)
    for o in outcomes:
        _add_action(rows, o)
    await session.execute(INSERT_ACTIONS, rows.params())


def _add_action(rows: ActionColumns, o: ActionOutcome) -> None:
    s = o.step
    rows.action_id.append(o.action_id)
    rows.customer_id.append(s.customer_id)
    rows.enrollment_id.append(s.enrollment_id)
    rows.step_id.append(s.step_id)
    rows.playbook_id.append(s.playbook_id)
    rows.status.append(o.status)
    rows.channel.append(s.channel)
    rows.template.append(s.template)
    rows.variant.append(s.variant)
    rows.offer.append(s.offer)
    rows.reason.append(o.reason)
    rows.content.append(_json(o.content))
    rows.recipient.append(_json(o.recipient))
    rows.consent.append(_json(o.consent))
    rows.due_at.append(s.due_at)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


async def settle_steps(session: AsyncSession, outcomes: Sequence[tuple[str, str, str, str | None, str]]) -> None:
    """Set (enrollment_id, step_id) -> status, reason, action id for each outcome."""
    if not outcomes:
        return
    enrollment, step, status, reason, action = (list(column) for column in zip(*outcomes, strict=True))
    await session.execute(
        SETTLE_STEPS, {"enrollment": enrollment, "step": step, "status": status, "reason": reason, "action": action}
    )
