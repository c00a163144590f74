"""The unit-of-work parts every consuming service shares: inbox, outbox, tombstones, one session.

Handlers see the Protocols; the SQL classes bind the existing statements (inbox, outbox,
erasures) to the unit of work's session, so a unit of work adds no statement and no round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_shared.db.erasures import drop_erased_history, record_erasures
from winback_shared.db.inbox import already_processed, claim_unprocessed
from winback_shared.db.outbox import OutboxMessage, enqueue
from winback_shared.events.envelope import CloudEvent

E = TypeVar("E", bound=CloudEvent)


class Inbox(Protocol):
    """The ids of the events this service applied (idempotent consumer)."""

    async def claim(self, events: Sequence[E]) -> list[E]:
        """Record the events as applied; returns those not applied before, in input order."""
        ...

    async def applied(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these `(source, id)` pairs are applied already."""
        ...


class Outbox(Protocol):
    """Messages published after the commit, in the order added."""

    async def add(self, messages: Sequence[OutboxMessage]) -> None: ...


class Erasures(Protocol):
    """Tombstones of erased customers (GDPR Art. 17)."""

    async def record(self, erased: Iterable[tuple[str, datetime]]) -> None:
        """Keep a tombstone per `(customer_id, erased_at)`."""
        ...

    async def drop_erased_history(self, events: Sequence[E]) -> list[E]:
        """The events to apply: an erased customer's events dated up to the erasure are left out."""
        ...


class SqlInbox:
    def __init__(self, session: AsyncSession, table: Table) -> None:
        self._session = session
        self._table = table

    async def claim(self, events: Sequence[E]) -> list[E]:
        return await claim_unprocessed(self._session, self._table, events)

    async def applied(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return await already_processed(self._session, self._table, keys)


class SqlOutbox:
    def __init__(self, session: AsyncSession, table: Table) -> None:
        self._session = session
        self._table = table

    async def add(self, messages: Sequence[OutboxMessage]) -> None:
        await enqueue(self._session, self._table, messages)


class SqlErasures:
    def __init__(self, session: AsyncSession, table: Table, key: bytes) -> None:
        self._session = session
        self._table = table
        self._key = key

    async def record(self, erased: Iterable[tuple[str, datetime]]) -> None:
        await record_erasures(self._session, self._table, self._key, erased)

    async def drop_erased_history(self, events: Sequence[E]) -> list[E]:
        return await drop_erased_history(self._session, self._table, self._key, events)


class UnitOfWork(Protocol):
    """One transaction: what is done through it commits together, or (left without `commit()`) not at all.

    Services extend it with their repositories; read-only members, so an implementation may hold
    its own types.
    """

    @property
    def inbox(self) -> Inbox: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def erasures(self) -> Erasures: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back unless committed."""
        ...

    async def commit(self) -> None: ...


class SessionUnitOfWork:
    """A `UnitOfWork` over one session per `async with`: closing it rolls back what was not committed.

    Enter it once at a time (a new instance per concurrent transaction); subclasses bind their
    repositories to the session in `_bind`.
    """

    inbox: SqlInbox
    outbox: SqlOutbox
    erasures: SqlErasures

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        inbox: Table,
        outbox: Table,
        erasures: Table,
        erasure_key: bytes,
    ) -> None:
        self._sessions = sessions
        self._tables = (inbox, outbox, erasures)
        self._erasure_key = erasure_key
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        session = self._sessions()
        try:
            await self._bind(session)
        except BaseException:
            await session.close()
            raise
        inbox, outbox, erasures = self._tables
        self.inbox = SqlInbox(session, inbox)
        self.outbox = SqlOutbox(session, outbox)
        self.erasures = SqlErasures(session, erasures, self._erasure_key)
        self._session = session
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            # Closing rolls back whatever was not committed and returns the connection to the pool.
            await session.close()

    async def _bind(self, session: AsyncSession) -> None:
        """Build the service's repositories over `session` (and run per-transaction settings)."""

    async def commit(self) -> None:
        assert self._session is not None, "commit outside `async with`"
        await self._session.commit()

    async def rollback(self) -> None:
        assert self._session is not None, "rollback outside `async with`"
        await self._session.rollback()
