"""Writing facts: bulk inserts that are no-ops when the same fact arrives again."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_metrics.adapters.tables import (
    actions,
    cancellations,
    churn_episodes,
    customer_values,
    enrollments,
    order_returns,
    orders,
    responses,
    returns,
    surveys,
)
from winback_metrics.domain.facts import Enrollment, Facts, Response


def _first_per_id(items: list[Enrollment]) -> list[Enrollment]:
    # One upsert statement may not touch a row twice, so keep one fact per enrolment.
    unique: dict[str, Enrollment] = {}
    for item in items:
        unique.setdefault(item.enrollment_id, item)
    return list(unique.values())


def _earliest_responses(items: list[Response]) -> list[Response]:
    unique: dict[tuple[str, str], Response] = {}
    for item in items:
        key = (item.action_id, item.outcome)
        if key not in unique or item.responded_at < unique[key].responded_at:
            unique[key] = item
    return list(unique.values())


async def _save_outcomes(session: AsyncSession, facts: Facts) -> None:
    # Rows that may arrive twice are no-ops; where two versions could differ, the rule is order-free.
    for table, items in (
        (orders, facts.orders),
        (order_returns, facts.order_returns),
        (surveys, facts.surveys),
        (cancellations, facts.cancellations),
    ):
        if items:
            await session.execute(insert(table).on_conflict_do_nothing(), [asdict(i) for i in items])
    if facts.responses:
        stmt = insert(responses)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[responses.c.action_id, responses.c.outcome],
                set_={"responded_at": func.least(responses.c.responded_at, stmt.excluded.responded_at)},
            ),
            [asdict(r) for r in _earliest_responses(facts.responses)],
        )
    if facts.values:
        stmt = insert(customer_values)
        unique = {(v.customer_id, v.at): v for v in facts.values}
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[customer_values.c.customer_id, customer_values.c.at],
                set_={"clv_12m": func.greatest(customer_values.c.clv_12m, stmt.excluded.clv_12m)},
            ),
            [asdict(v) for v in unique.values()],
        )


async def save_facts(session: AsyncSession, facts: Facts) -> None:
    """Store a batch's facts in the caller's transaction."""
    if facts.churns:
        await session.execute(insert(churn_episodes).values([asdict(c) for c in facts.churns]).on_conflict_do_nothing())
    if facts.returns:
        await session.execute(insert(returns).values([asdict(r) for r in facts.returns]).on_conflict_do_nothing())
    if facts.actions:
        await session.execute(insert(actions).values([asdict(a) for a in facts.actions]).on_conflict_do_nothing())
    if facts.enrolled:
        stmt = insert(enrollments).values(
            [
                {
                    "enrollment_id": e.enrollment_id,
                    "customer_id": e.customer_id,
                    "playbook_id": e.playbook_id,
                    "variant": e.variant,
                    "enrolled_at": e.at,
                    "enroll_reason": e.reason,
                    "holdout": e.holdout,
                }
                for e in _first_per_id(facts.enrolled)
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[enrollments.c.enrollment_id],
                set_={
                    "enrolled_at": stmt.excluded.enrolled_at,
                    "enroll_reason": stmt.excluded.enroll_reason,
                    "holdout": enrollments.c.holdout | stmt.excluded.holdout,
                },
            )
        )
    if facts.exited:
        stmt = insert(enrollments).values(
            [
                {
                    "enrollment_id": e.enrollment_id,
                    "customer_id": e.customer_id,
                    "playbook_id": e.playbook_id,
                    "variant": e.variant,
                    "exited_at": e.at,
                    "exit_reason": e.reason,
                    "holdout": e.holdout,
                }
                for e in _first_per_id(facts.exited)
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[enrollments.c.enrollment_id],
                set_={
                    "exited_at": stmt.excluded.exited_at,
                    "exit_reason": stmt.excluded.exit_reason,
                    "holdout": enrollments.c.holdout | stmt.excluded.holdout,
                },
            )
        )
    await _save_outcomes(session, facts)
