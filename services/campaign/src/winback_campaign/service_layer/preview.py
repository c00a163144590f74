"""Who would enrol in a playbook now, without enrolling anyone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters import queries
from winback_campaign.domain.enrollment import YEAR, EnrollmentPlan, StatusChange, plan_enrollment
from winback_campaign.domain.playbooks import FEATURE_RELEASED, Playbook
from winback_campaign.service_layer.playbooks import current
from winback_shared.clock import Clock


class PreviewProblem(ValueError):
    """The preview cannot be made as asked (e.g. an event trigger without tags)."""


async def preview(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    replay_window: timedelta,
    playbook_id: str,
    *,
    tags: Sequence[str],
    limit: int,
    shipped: Sequence[Playbook],
) -> dict[str, Any] | None:
    """The customers whose current status (or a release with `tags`) would enrol them in this playbook."""
    async with sessions() as session:
        playbooks = await current(session, shipped)
        playbook = next((p for p in playbooks if p.playbook_id == playbook_id), None)
        if playbook is None:
            return None
        now = clock.now()
        changes = await _candidates(session, playbook, now - replay_window, tags, limit)
        ids = [c.customer_id for c in changes]
        active = await queries.active_customers(session, ids)
        history = await repo.history(session, ids, now - YEAR)
    items = []
    for change in changes:
        plan = plan_enrollment(
            change,
            playbooks,
            now=now,
            has_active_enrollment=change.customer_id in active,
            replay_window=replay_window,
            history=history.get(change.customer_id, ()),
        )
        if isinstance(plan, EnrollmentPlan) and plan.playbook.playbook_id == playbook_id:
            items.append(_item(plan))
    return {"playbook_id": playbook_id, "version": playbook.version, "as_of": now, "items": items}


async def _candidates(
    session: AsyncSession, playbook: Playbook, since: Any, tags: Sequence[str], limit: int
) -> list[StatusChange]:
    if playbook.trigger.event == FEATURE_RELEASED:
        if not tags:
            raise PreviewProblem("this playbook is triggered by product.feature_released: give the release's 'tags'")
        rows = await repo.release_candidates(session, tags)
        return [
            StatusChange(
                customer_id=r["customer_id"],
                to=FEATURE_RELEASED,
                at=since,
                winback_eligible=bool(r["winback_eligible"]),
                source="preview",
                event_id="preview",
                churn_reason="feature_gap",
                segment=r["segment"],
                value_tier=r["value_tier"],
                kind=r["kind"],
                time_zone=r["time_zone"],
                state=r["state"],
                tags=tuple(tags),
            )
            for r in rows[:limit]
        ]
    rows = await queries.customers_with_status(session, status=playbook.trigger.status or "", since=since, limit=limit)
    return [
        StatusChange(
            customer_id=r["customer_id"],
            to=r["status"],
            at=r["status_at"],
            winback_eligible=bool(r["winback_eligible"]),
            source="preview",
            event_id="preview",
            churn_reason=r["churn_reason"],
            segment=r["segment"],
            value_tier=r["value_tier"],
            kind=r["kind"],
            time_zone=r["time_zone"],
            state=r["state"],
        )
        for r in rows
    ]


def _item(plan: EnrollmentPlan) -> dict[str, Any]:
    return {
        "customer_id": plan.customer_id,
        "variant": plan.variant,
        "holdout": plan.holdout,
        "steps": [
            {"step_id": s.step.step_id, "channel": s.step.channel, "due_at": s.due_at, "offer": s.step.offer}
            for s in plan.steps
        ],
    }
