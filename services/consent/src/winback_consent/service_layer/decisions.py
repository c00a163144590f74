"""Deciding (one or many) and recording a dispatch as a `use` in the same transaction."""

from __future__ import annotations

import uuid
from collections import Counter as Counter_
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import repository
from winback_consent.domain.decisions import decide_after
from winback_consent.domain.ledger import LedgerDraft
from winback_consent.domain.model import CustomerSnapshot, Decision, DecisionRequest, Policy
from winback_consent.service_layer.ledger import append_drafts
from winback_shared.clock import Clock

# Snapshots of the given customers, read outside any transaction (the decisions' hot path).
SnapshotReads = Callable[[Iterable[str]], Awaitable[dict[str, CustomerSnapshot]]]
# Which of the named `(source, id)` events the consumer has applied, read outside any transaction.
AppliedReads = Callable[[Iterable[tuple[str, str]]], Awaitable[set[tuple[str, str]]]]

DECISIONS = Counter("winback_consent_decisions_total", "Consent decisions", ["allowed", "basis_or_reason"])


@dataclass(frozen=True, slots=True)
class DecisionCommand:
    request: DecisionRequest
    dispatch: bool = False
    # At most one use is recorded per request id, so a retried send counts once.
    request_id: str | None = None
    # The event the question rests on (`(source, id)` on `winback.events`): "not yet" until it is applied.
    caused_by: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    decision: Decision
    decided_at: datetime


def _use(command: DecisionCommand, decision: Decision) -> LedgerDraft:
    r = command.request
    return LedgerDraft(
        id=str(uuid.uuid4()),
        customer_id=r.customer_id,
        entry_type="use",
        occurred_at=r.at,
        payload={
            "channel": r.channel,
            "purpose": r.purpose,
            "content": r.content,
            "offer_category": r.offer_category,
            "basis": decision.basis,
            "evidence_ids": list(decision.evidence_ids),
            "request_id": command.request_id,
        },
        request_id=command.request_id,
    )


async def decide_many(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    policy: Policy,
    commands: Sequence[DecisionCommand],
    *,
    reads: SnapshotReads | None = None,
    applied: AppliedReads | None = None,
) -> list[DecisionOutcome]:
    """Decide each command; dispatching ALLOWs append their `use` before the answer is returned.

    `reads` and `applied` serve decisions that write nothing (autocommit statements, no BEGIN/COMMIT).
    A command naming an event this service has not applied yet is answered "not yet" (pending).
    """
    decided_at = clock.now()
    causes = _causes(commands)
    if any(c.dispatch for c in commands) or reads is None or (causes and applied is None):
        decisions = await _decide_and_record(sessions, policy, commands, decided_at)
    else:
        # The inbox first: once an event shows there, the snapshot read after it includes its effect.
        done = await applied(causes) if causes and applied is not None else set()
        snapshots = await reads(c.request.customer_id for c in commands)
        decisions = [_decide(snapshots, c, policy, done) for c in commands]
    for (allowed, label), n in Counter_((d.allowed, d.basis or d.reason or "") for d in decisions).items():
        DECISIONS.labels(str(allowed).lower(), label).inc(n)
    return [DecisionOutcome(d, decided_at) for d in decisions]


def _causes(commands: Sequence[DecisionCommand]) -> list[tuple[str, str]]:
    return [c.caused_by for c in commands if c.caused_by is not None]


def _decide(
    snapshots: dict[str, CustomerSnapshot], command: DecisionCommand, policy: Policy, applied: set[tuple[str, str]]
) -> Decision:
    cause_applied = command.caused_by is None or command.caused_by in applied
    return decide_after(snapshots[command.request.customer_id], command.request, policy, cause_applied=cause_applied)


async def _decide_and_record(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    commands: Sequence[DecisionCommand],
    decided_at: datetime,
) -> list[Decision]:
    try:
        # Nearly always every dispatching customer has a chain head: one locking statement.
        return await _decide_and_record_once(sessions, policy, commands, decided_at, create_heads=False)
    except repository.HeadsMissing:
        return await _decide_and_record_once(sessions, policy, commands, decided_at, create_heads=True)


async def _decide_and_record_once(
    sessions: async_sessionmaker[AsyncSession],
    policy: Policy,
    commands: Sequence[DecisionCommand],
    decided_at: datetime,
    *,
    create_heads: bool,
) -> list[Decision]:
    async with sessions.begin() as session:
        # Lock the chains of dispatching customers before reading them: a revocation applied
        # concurrently then lands either before this read or after the recorded use.
        dispatching = (c.request.customer_id for c in commands if c.dispatch)
        if create_heads:
            heads = await repository.lock_heads(session, dispatching, known_only=True)
        else:
            heads = await repository.lock_existing_heads(session, dispatching)
        done = await repository.applied_events(session, _causes(commands))
        snapshots = await repository.load_snapshots(session, (c.request.customer_id for c in commands))
        decisions = [_decide(snapshots, c, policy, done) for c in commands]
        seen = await repository.recorded_requests(
            session, (c.request_id for c in commands if c.dispatch and c.request_id)
        )
        uses: list[LedgerDraft] = []
        for command, decision in zip(commands, decisions, strict=True):
            if not (command.dispatch and decision.allowed):
                continue
            if command.request_id is not None:
                if command.request_id in seen:
                    continue
                seen.add(command.request_id)
            uses.append(_use(command, decision))
        # A use changes nothing else a snapshot derives from: it is added to the snapshot, not rebuilt.
        await append_drafts(session, uses, decided_at, locked=heads, into_snapshots=True)
    return decisions
