"""What campaign's handlers need of storage: repositories, inbox and outbox in one transaction.

`adapters/unit_of_work.py` implements it over PostgreSQL; `tests/support/campaign_fakes.py` in
memory, so the batch flows are unit-tested without a database (cosmicpython's pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from winback_campaign.domain.actions import ActionOutcome, DueStep
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.enrollment import EnrollmentPlan, PastEnrollment, StatusChange
from winback_shared.db.unit_of_work import UnitOfWork
from winback_shared.events.produced import CustomerStatusChanged

# (enrollment_id, step_id, due_at, reason): a step kept pending until a later time.
StepMove = tuple[str, str, datetime, str]
# (enrollment_id, step_id, status, reason, action_id): a step settled by an action.
SettledStep = tuple[str, str, str, str | None, str]


class Customers(Protocol):
    """Profiles and latest statuses of customers (what enrolment and messages read)."""

    async def upsert_profiles(self, profiles: dict[str, dict[str, Any]], now: datetime) -> None: ...
    async def record_statuses(self, changes: Sequence[StatusChange], now: datetime) -> None: ...
    async def facts(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Kind, time zone and state per customer."""
        ...

    async def release_candidates(self, tags: Sequence[str]) -> list[dict[str, Any]]: ...
    async def delete(self, customer_ids: Sequence[str]) -> None:
        """Everything held about these customers (GDPR erasure)."""
        ...


class Enrollments(Protocol):
    async def active(self, customer_ids: Iterable[str]) -> dict[str, ActiveEnrollment]:
        """The active enrolment per customer, locked for this transaction."""
        ...

    async def history(self, customer_ids: Iterable[str], since: datetime) -> dict[str, list[PastEnrollment]]: ...
    async def of_actions(self, action_ids: Iterable[str]) -> dict[str, str]:
        """The enrolment each action belongs to."""
        ...

    async def last_triggered_actions(self, enrollment_ids: Iterable[str]) -> dict[str, str]: ...
    async def record_reports(self, reports: Sequence[tuple[str, str, datetime]]) -> None:
        """A tool's report `(action_id, outcome, at)` on a call task or letter: the earliest per action is kept."""
        ...

    async def add(self, plans: Sequence[EnrollmentPlan], exits: dict[str, str], now: datetime) -> None:
        """New enrolments with their steps; one that exits in the same batch is written exited."""
        ...

    async def exit(self, exits: dict[str, str], now: datetime, attributed: dict[str, str] | None = None) -> None:
        """End active enrolments (enrollment_id -> reason) and skip their pending steps."""
        ...

    async def complete_finished(self, enrollment_ids: Iterable[str], now: datetime) -> None: ...
    async def lock_status(self, enrollment_id: str) -> str | None:
        """The enrolment's status, locked until commit (None: unknown)."""
        ...

    async def action_origin(self, action_id: str) -> tuple[str, ActiveEnrollment] | None:
        """The channel of an action and the enrolment it was sent in (None: unknown action)."""
        ...


class Steps(Protocol):
    """Due steps and the actions they become (the scheduler's tables)."""

    async def claim_due(self, *, now: datetime, address_grace: timedelta, limit: int) -> list[DueStep]: ...
    async def recent_contacts(self, customer_ids: Iterable[str], since: datetime) -> dict[str, list[datetime]]: ...
    async def hold(self, holds: Sequence[StepMove]) -> None:
        """Keep steps pending until later because consent has not applied their cause (counts the wait)."""
        ...

    async def reschedule(self, moves: Sequence[StepMove]) -> None: ...
    async def record_actions(self, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
        """Insert the settled actions; an action id seen before is left alone."""
        ...

    async def settle(self, outcomes: Sequence[SettledStep]) -> None: ...


class DeferredChanges(Protocol):
    """Status changes waiting until the event they name is applied here."""

    async def defer(self, changes: Sequence[CustomerStatusChanged], now: datetime) -> None: ...
    async def release(self, expired: datetime) -> list[CustomerStatusChanged]:
        """Remove and return the changes whose event is applied now, or that waited since `expired`."""
        ...


class Playbooks(Protocol):
    async def latest_documents(self) -> list[dict[str, Any]]:
        """The newest stored version of every playbook id."""
        ...


class Webhooks(Protocol):
    async def add(self, rows: Sequence[tuple[str, str, str, bytes]], now: datetime) -> None:
        """(action_id, channel, url, payload) deliveries, written with their actions."""
        ...


class CampaignUnitOfWork(UnitOfWork, Protocol):
    """One transaction of campaign: its repositories besides the inbox, outbox and tombstones."""

    @property
    def customers(self) -> Customers: ...
    @property
    def enrollments(self) -> Enrollments: ...
    @property
    def steps(self) -> Steps: ...
    @property
    def deferred(self) -> DeferredChanges: ...
    @property
    def playbooks(self) -> Playbooks: ...
    @property
    def webhooks(self) -> Webhooks: ...


# A new unit of work per transaction: rounds and batches run concurrently.
UnitOfWorkFactory = Callable[[], CampaignUnitOfWork]
