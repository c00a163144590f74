"""The durable scheduler against a real database: restarts, replicas, consent outages, the cap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support.db import migrated
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters.consent_client import ConsentUnavailable
from winback_campaign.adapters.tables import actions, enrollment_steps, outbox
from winback_campaign.bootstrap import MIGRATIONS
from winback_campaign.domain.actions import ConsentDecision, ConsentRequest
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.enrollment import EnrollmentPlan, StatusChange, plan_enrollment
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_shared.clock import FixedClock

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Berlin


class FakeConsent:
    """Allows everyone; can fail (outage), crash mid-round, be slow (to overlap replicas) or be behind."""

    def __init__(self) -> None:
        self.fail = False
        self.delay_s = 0.0
        self.asked: list[str] = []
        self.requests: list[ConsentRequest] = []
        # How many more rounds consent answers "not yet" (its consumer has not applied the cause).
        self.behind_rounds = 0

    async def decide(self, requests: Sequence[ConsentRequest]) -> dict[str, ConsentDecision]:
        if self.fail:
            raise ConsentUnavailable("down")
        await asyncio.sleep(self.delay_s)
        self.asked.extend(r.request_id for r in requests)
        self.requests.extend(requests)
        if self.behind_rounds > 0:
            self.behind_rounds -= 1
            return {r.request_id: ConsentDecision(False, None, "not_yet_applied", (), pending=True) for r in requests}
        return {r.request_id: ConsentDecision(True, "express_consent", None, ("ev",)) for r in requests}

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated(database_url, MIGRATIONS) as engine:
        yield engine


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE campaign.actions, campaign.enrollment_steps, campaign.enrollments,"
                " campaign.customers, campaign.outbox"
            )
        )
    return async_sessionmaker(engine, expire_on_commit=False)


def set_clock(clock: FixedClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


def scheduler(
    sessions: async_sessionmaker[AsyncSession], clock: FixedClock, consent: FakeConsent, batch: int = 50
) -> Scheduler:
    return Scheduler(
        sessions=sessions,
        clock=clock,
        consent=consent,  # type: ignore[arg-type]
        sender=SenderIdentity("Acme", "Weg 1", "hi@acme.example", "https://acme.example/u"),
        config=SchedulerConfig(batch_size=batch),
    )


async def enrol(
    sessions: async_sessionmaker[AsyncSession],
    n: int,
    *,
    tier: str = "C",
    kind: str = "consumer",
    caused_by: tuple[str, str] | None = None,
) -> list[EnrollmentPlan]:
    plans = []
    for i in range(n):
        change = StatusChange(
            f"c{i}", "churned", T0, True, "/winback/risk", f"e{i}", value_tier=tier, kind=kind, caused_by=caused_by
        )
        plan = plan_enrollment(
            change, BUILTIN_PLAYBOOKS, now=T0, has_active_enrollment=False, replay_window=timedelta(days=7)
        )
        assert isinstance(plan, EnrollmentPlan)
        plans.append(plan)
    profiles = {
        f"c{i}": {
            "name": f"N{i}",
            "email": f"c{i}@example.com",
            "language": "de",
            "kind": kind,
            "phone": "+49301",
            "postal_address": {"street": "Weg 2", "postal_code": "10115", "city": "Berlin"},
        }
        for i in range(n)
    }
    async with sessions.begin() as session:
        await repo.upsert_profiles(session, profiles, T0)
        await repo.insert_enrollments(session, plans, {}, T0)
    return [p for p in plans if not p.holdout]


async def count(sessions: async_sessionmaker[AsyncSession], table: object, *where: object) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)  # type: ignore[arg-type]


async def test_crash_mid_round_then_restart_sends_each_step_exactly_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    plans = await enrol(sessions, 120)
    clock = FixedClock(T0)
    consent = FakeConsent()
    first = scheduler(sessions, clock, consent)
    # The process dies while consent is being asked: the round's transaction rolls back.
    consent.fail = True
    with pytest.raises(ConsentUnavailable):
        await first.run_once()
    assert await count(sessions, actions) == 0 and await count(sessions, outbox) == 0
    # A restarted instance (and a second replica at the same time) settles everything once.
    consent.fail, consent.delay_s = False, 0.05
    a, b = scheduler(sessions, clock, consent), scheduler(sessions, clock, consent)
    while sum(await asyncio.gather(a.run_once(), b.run_once())):
        pass
    assert await count(sessions, actions) == len(plans) == len(consent.asked) == len(set(consent.asked))
    assert await count(sessions, outbox, outbox.c.topic == "winback.actions") == len(plans)
    assert await count(sessions, enrollment_steps, enrollment_steps.c.status == "pending") == 0


async def test_consent_unreachable_sends_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await enrol(sessions, 5)
    consent = FakeConsent()
    consent.fail = True
    for _ in range(3):
        with pytest.raises(ConsentUnavailable):
            await scheduler(sessions, FixedClock(T0), consent).run_once()
    assert await count(sessions, actions) == 0 and await count(sessions, outbox) == 0


async def test_cap_and_quiet_hours_move_steps_instead_of_dropping_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    [plan, *_] = await enrol(sessions, 3, tier="A", kind="business")
    clock = FixedClock(T0)
    consent = FakeConsent()
    worker = scheduler(sessions, clock, consent)
    while await worker.run_once():
        pass
    # The call falls due 7 days after the trigger: exactly when the first e-mail leaves the 7-day window,
    # then Sunday and the evening push it to the next working morning.
    set_clock(clock, T0 + timedelta(days=7) - timedelta(hours=1))
    await worker.run_once()
    set_clock(clock, T0 + timedelta(days=7, hours=10))  # Tuesday 21:00 in Berlin
    await worker.run_once()
    async with sessions() as session:
        call = (
            await session.execute(
                select(enrollment_steps).where(
                    enrollment_steps.c.enrollment_id == plan.enrollment_id, enrollment_steps.c.step_id == "call"
                )
            )
        ).one()
    assert call.status == "pending" and call.reason == "quiet_hours"
    assert call.due_at == datetime(2025, 3, 19, 8, 0, tzinfo=UTC)  # Wednesday 09:00 Berlin
    # The letter (day 14) is capped against the call once that is made, never dropped.
    set_clock(clock, datetime(2025, 3, 19, 8, 0, tzinfo=UTC))
    while await worker.run_once():
        pass
    set_clock(clock, T0 + timedelta(days=14))
    await worker.run_once()
    async with sessions() as session:
        rows = {
            r.step_id: r
            for r in await session.execute(
                select(enrollment_steps).where(enrollment_steps.c.enrollment_id == plan.enrollment_id)
            )
        }
    assert rows["call"].status == "triggered"
    assert (rows["letter"].status, rows["letter"].reason) == ("pending", "frequency_cap")
    assert rows["letter"].due_at == datetime(2025, 3, 26, 8, 0, tzinfo=UTC)
    set_clock(clock, rows["letter"].due_at)
    while await worker.run_once():
        pass
    async with sessions() as session:
        letter = (
            await session.execute(
                select(actions).where(actions.c.enrollment_id == plan.enrollment_id, actions.c.step_id == "letter")
            )
        ).one()
    assert letter.status == "triggered" and letter.channel == "post"
    assert letter.recipient["postal_address"]["city"] == "Berlin"


async def _first_step(sessions: async_sessionmaker[AsyncSession], plan: EnrollmentPlan) -> Any:
    async with sessions() as session:
        return (
            await session.execute(
                select(enrollment_steps)
                .where(enrollment_steps.c.enrollment_id == plan.enrollment_id)
                .order_by(enrollment_steps.c.position)
                .limit(1)
            )
        ).one()


async def test_consent_not_yet_keeps_the_step_pending_and_asks_again_with_backoff(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    cause = ("/billing", f"cancel-{uuid.uuid4()}")
    [plan] = await enrol(sessions, 1, caused_by=cause)
    clock, consent = FixedClock(T0), FakeConsent()
    consent.behind_rounds = 2
    worker = scheduler(sessions, clock, consent)

    await worker.run_once()
    step = await _first_step(sessions, plan)
    assert (step.status, step.reason, step.due_at, step.wait_attempts) == (
        "pending",
        "consent_not_yet_applied",
        T0 + timedelta(seconds=1),
        1,
    )
    assert [r.caused_by for r in consent.requests] == [cause]  # consent was told what to wait for
    assert await count(sessions, actions) == 0 and await count(sessions, outbox) == 0  # nothing settled
    assert await worker.run_once() == 0  # not due again before the backoff

    set_clock(clock, T0 + timedelta(seconds=1))
    await worker.run_once()
    step = await _first_step(sessions, plan)
    assert (step.status, step.due_at, step.wait_attempts) == ("pending", T0 + timedelta(seconds=3), 2)

    set_clock(clock, T0 + timedelta(seconds=3))
    await worker.run_once()
    step = await _first_step(sessions, plan)
    assert step.status == "triggered"
    async with sessions() as session:
        [action] = (await session.execute(select(actions.c.status, actions.c.reason))).all()
    assert tuple(action) == ("triggered", None)
    assert len(consent.asked) == 3 and len(set(consent.asked)) == 1  # one action id, asked three times
