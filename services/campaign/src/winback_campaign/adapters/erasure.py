"""SQL of GDPR erasure in campaign: everything about the customer is deleted, nothing anonymised."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from winback_campaign.adapters.tables import (
    action_outcomes,
    actions,
    customers,
    deferred_status_changes,
    enrollment_steps,
    enrollments,
    outbox,
    webhook_deliveries,
)


async def delete_customers(session: AsyncSession, customer_ids: Sequence[str]) -> None:
    """Profiles, enrollments with their steps, actions (rendered content, recipient), webhook bodies, waiting changes.

    Unpublished outbox messages about the customer go too: they carry rendered content and addresses.
    Metrics keeps its own anonymised counts, so nothing here is needed for the KPIs.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    their_actions = select(actions.c.action_id).where(actions.c.customer_id.in_(ids))
    their_enrollments = select(enrollments.c.enrollment_id).where(enrollments.c.customer_id.in_(ids))
    # Steps first: a scheduler round holding them commits its actions before this sees the actions.
    await session.execute(delete(enrollment_steps).where(enrollment_steps.c.enrollment_id.in_(their_enrollments)))
    await session.execute(delete(webhook_deliveries).where(webhook_deliveries.c.action_id.in_(their_actions)))
    for table in (action_outcomes, actions, enrollments, deferred_status_changes, customers):
        await session.execute(delete(table).where(table.c.customer_id.in_(ids)))
    await session.execute(delete(outbox).where(outbox.c.key.in_(ids)))
