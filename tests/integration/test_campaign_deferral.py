"""A status change that arrives before campaign applied the event it names waits; enrolment sees the profile."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from tests.support.campaign_events import T0, cancelled, churned
from winback_campaign.adapters.tables import deferred_status_changes, enrollment_steps, enrollments
from winback_campaign.adapters.unit_of_work import SqlUnitOfWork
from winback_campaign.bootstrap import MIGRATIONS
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.entrypoints.consumer import EnrollmentConsumer
from winback_campaign.service_layer.enrollment import EnrollmentRules
from winback_shared.clock import FixedClock
from winback_shared.db.migrate import upgrade
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import CustomerUpserted

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
# An e-mail to everyone, and a call task only for businesses: the step the profile's `kind` decides.
PLAYBOOK = Playbook.model_validate(
    {
        "playbook_id": "deferral-test",
        "name": "deferral test",
        "priority": 100,
        "holdout_percent": 0,
        "trigger": {"status": "churned"},
        "steps": [
            {"step_id": "mail", "after": "P0D", "channel": "email", "template": "we_miss_you"},
            {
                "step_id": "call",
                "after": "P1D",
                "channel": "phone",
                "template": "account_manager_call",
                "assignee": "account_manager",
                "when": {"kinds": ["business"]},
            },
        ],
    }
)


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS)
    engine: AsyncEngine = create_async_engine(database_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def handler(sessions: async_sessionmaker[AsyncSession], clock: FixedClock) -> EnrollmentConsumer:
    rules = EnrollmentRules(replay_window=timedelta(days=7), shipped=[PLAYBOOK])
    return EnrollmentConsumer(uow=lambda: SqlUnitOfWork(sessions), clock=clock, rules=rules)


def business(customer_id: str) -> CloudEvent:
    data = {"customer_id": customer_id, "kind": "business", "email": f"{customer_id}@example.com", "phone": "+4930"}
    return CustomerUpserted.new(source="/crm", time=T0, data=data)


async def planned_steps(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(enrollment_steps.c.step_id)
            .join(enrollments, enrollments.c.enrollment_id == enrollment_steps.c.enrollment_id)
            .where(enrollments.c.customer_id == customer_id)
            .order_by(enrollment_steps.c.position)
        )
        return [r.step_id for r in rows]


async def deferred(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(deferred_status_changes)
            .where(deferred_status_changes.c.customer_id == customer_id)
        )
        return int(count or 0)


async def test_a_churn_ahead_of_the_profile_waits_and_then_plans_the_business_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    customer = f"early-{RUN}"
    consume = handler(sessions, FixedClock(T0))
    await consume([churned(customer)])  # risk's topic was read first
    assert (await planned_steps(sessions, customer), await deferred(sessions, customer)) == ([], 1)

    await consume([business(customer), cancelled(customer)])  # now campaign has applied the cancellation
    assert (await planned_steps(sessions, customer), await deferred(sessions, customer)) == (["mail", "call"], 0)


async def test_a_churn_whose_event_is_applied_enrols_at_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    customer = f"in-order-{RUN}"
    await handler(sessions, FixedClock(T0))([business(customer), cancelled(customer), churned(customer)])
    assert (await planned_steps(sessions, customer), await deferred(sessions, customer)) == (["mail", "call"], 0)


async def test_a_named_event_that_never_comes_releases_the_change_after_the_grace(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    customer = f"never-{RUN}"
    clock = FixedClock(T0)
    consume = handler(sessions, clock)
    await consume([churned(customer)])
    clock.advance(timedelta(hours=23))
    await consume([business(f"other-{RUN}")])
    assert await deferred(sessions, customer) == 1
    clock.advance(timedelta(hours=1))
    await consume([business(f"other-{RUN}-2")])
    # Decided on what campaign knows (no profile: kind unknown, so no call), as before this rule.
    assert (await planned_steps(sessions, customer), await deferred(sessions, customer)) == (["mail"], 0)
