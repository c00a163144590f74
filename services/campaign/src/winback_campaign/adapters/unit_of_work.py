"""Campaign's unit of work over PostgreSQL: the repository modules bound to one session.

Each method is one call of the statement it names, so handlers run the same SQL in the same
number of round trips as when they called the modules with a session themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import (
    deferred_repository,
    enrollment_repository,
    erasure,
    playbook_repository,
    step_repository,
    webhook_repository,
)
from winback_campaign.adapters.tables import erasures, outbox, processed_events
from winback_campaign.domain.actions import ActionOutcome, DueStep
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.enrollment import EnrollmentPlan, PastEnrollment, StatusChange
from winback_shared.db.unit_of_work import SessionUnitOfWork
from winback_shared.events.produced import CustomerStatusChanged
from winback_shared.settings import DEV_ERASURE_KEY


class SqlCustomers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert_profiles(self, profiles: dict[str, dict[str, Any]], now: datetime) -> None:
        await enrollment_repository.upsert_profiles(self._session, profiles, now)

    async def record_statuses(self, changes: Sequence[StatusChange], now: datetime) -> None:
        await enrollment_repository.record_statuses(self._session, changes, now)

    async def facts(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return await enrollment_repository.customer_facts(self._session, customer_ids)

    async def release_candidates(self, tags: Sequence[str]) -> list[dict[str, Any]]:
        return await enrollment_repository.release_candidates(self._session, tags)

    async def delete(self, customer_ids: Sequence[str]) -> None:
        await erasure.delete_customers(self._session, customer_ids)


class SqlEnrollments:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def active(self, customer_ids: Iterable[str]) -> dict[str, ActiveEnrollment]:
        return await enrollment_repository.active_enrollments(self._session, customer_ids)

    async def history(self, customer_ids: Iterable[str], since: datetime) -> dict[str, list[PastEnrollment]]:
        return await enrollment_repository.history(self._session, customer_ids, since)

    async def of_actions(self, action_ids: Iterable[str]) -> dict[str, str]:
        return await enrollment_repository.enrollment_of_actions(self._session, action_ids)

    async def last_triggered_actions(self, enrollment_ids: Iterable[str]) -> dict[str, str]:
        return await enrollment_repository.last_triggered_actions(self._session, enrollment_ids)

    async def record_reports(self, reports: Sequence[tuple[str, str, datetime]]) -> None:
        await enrollment_repository.record_reports(self._session, reports)

    async def add(self, plans: Sequence[EnrollmentPlan], exits: dict[str, str], now: datetime) -> None:
        await enrollment_repository.insert_enrollments(self._session, plans, exits, now)

    async def exit(self, exits: dict[str, str], now: datetime, attributed: dict[str, str] | None = None) -> None:
        await enrollment_repository.exit_enrollments(self._session, exits, now, attributed)

    async def complete_finished(self, enrollment_ids: Iterable[str], now: datetime) -> None:
        await enrollment_repository.complete_finished(self._session, enrollment_ids, now)

    async def lock_status(self, enrollment_id: str) -> str | None:
        return await enrollment_repository.lock_status(self._session, enrollment_id)

    async def action_origin(self, action_id: str) -> tuple[str, ActiveEnrollment] | None:
        return await enrollment_repository.action_origin(self._session, action_id)


class SqlSteps:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim_due(self, *, now: datetime, address_grace: timedelta, limit: int) -> list[DueStep]:
        return await step_repository.claim_due_steps(self._session, now=now, address_grace=address_grace, limit=limit)

    async def recent_contacts(self, customer_ids: Iterable[str], since: datetime) -> dict[str, list[datetime]]:
        return await step_repository.recent_contacts(self._session, customer_ids, since)

    async def hold(self, holds: Sequence[tuple[str, str, datetime, str]]) -> None:
        await step_repository.hold_steps(self._session, holds)

    async def reschedule(self, moves: Sequence[tuple[str, str, datetime, str]]) -> None:
        await step_repository.reschedule(self._session, moves)

    async def record_actions(self, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
        await step_repository.record_actions(self._session, outcomes, now)

    async def settle(self, outcomes: Sequence[tuple[str, str, str, str | None, str]]) -> None:
        await step_repository.settle_steps(self._session, outcomes)


class SqlDeferredChanges:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def defer(self, changes: Sequence[CustomerStatusChanged], now: datetime) -> None:
        await deferred_repository.defer(self._session, changes, now)

    async def release(self, expired: datetime) -> list[CustomerStatusChanged]:
        return await deferred_repository.release(self._session, expired)


class SqlPlaybooks:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def latest_documents(self) -> list[dict[str, Any]]:
        return await playbook_repository.latest_documents(self._session)


class SqlWebhooks:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, rows: Sequence[tuple[str, str, str, bytes]], now: datetime) -> None:
        await webhook_repository.add(self._session, rows, now)


class SqlUnitOfWork(SessionUnitOfWork):
    """`CampaignUnitOfWork` over campaign's schema; `erasure_key` hashes the tombstones' customer ids."""

    customers: SqlCustomers
    enrollments: SqlEnrollments
    steps: SqlSteps
    deferred: SqlDeferredChanges
    playbooks: SqlPlaybooks
    webhooks: SqlWebhooks

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], erasure_key: bytes = DEV_ERASURE_KEY.encode()
    ) -> None:
        super().__init__(sessions, inbox=processed_events, outbox=outbox, erasures=erasures, erasure_key=erasure_key)

    async def _bind(self, session: AsyncSession) -> None:
        self.customers = SqlCustomers(session)
        self.enrollments = SqlEnrollments(session)
        self.steps = SqlSteps(session)
        self.deferred = SqlDeferredChanges(session)
        self.playbooks = SqlPlaybooks(session)
        self.webhooks = SqlWebhooks(session)
