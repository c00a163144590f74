"""Writing facts: bulk inserts that are no-ops when the same fact arrives again."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from winback_metrics.adapters.tables import actions, churn_episodes, enrollments, returns
from winback_metrics.domain.facts import Enrollment, Facts


def _first_per_id(items: list[Enrollment]) -> list[Enrollment]:
    # One upsert statement may not touch a row twice, so keep one fact per enrolment.
    unique: dict[str, Enrollment] = {}
    for item in items:
        unique.setdefault(item.enrollment_id, item)
    return list(unique.values())


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
                }
                for e in _first_per_id(facts.enrolled)
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[enrollments.c.enrollment_id],
                set_={"enrolled_at": stmt.excluded.enrolled_at, "enroll_reason": stmt.excluded.enroll_reason},
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
                }
                for e in _first_per_id(facts.exited)
            ]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[enrollments.c.enrollment_id],
                set_={"exited_at": stmt.excluded.exited_at, "exit_reason": stmt.excluded.exit_reason},
            )
        )
