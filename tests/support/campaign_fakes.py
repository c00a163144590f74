"""Campaign's unit of work in memory, and a scripted consent: the handlers' batch flows without a database.

The fakes follow the SQL's rules where a flow depends on them: one active enrolment per customer
(a second insert is dropped), an exit skips the pending steps, an action id is recorded once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.support.fakes import FakeUnitOfWork, MessagingState, Store
from winback_campaign.domain.actions import (
    ActionOutcome,
    ConsentDecision,
    ConsentRequest,
    ConsentUnavailable,
    DueStep,
)
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.enrollment import EnrollmentPlan, PastEnrollment, StatusChange, supersedes
from winback_campaign.domain.templates import Recipient
from winback_shared.events.produced import CustomerStatusChanged

PROFILE_FIELDS = (
    *("name", "email", "language", "kind", "phone", "postal_address", "account_manager", "time_zone", "state"),
)
SET_FIELDS = ("categories", "wishes")


@dataclass
class Action:
    outcome: ActionOutcome
    created_at: datetime


TASKS = ("phone", "post")


@dataclass
class CampaignState(MessagingState):
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (enrollment_id, step_id) -> the step's row.
    steps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)
    # (source, id) -> (the waiting change, when it arrived).
    deferred: dict[tuple[str, str], tuple[CustomerStatusChanged, datetime]] = field(default_factory=dict)
    playbook_documents: list[dict[str, Any]] = field(default_factory=list)
    # action_id -> the first (outcome, at) its tool reported, for call tasks and letters.
    reports: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    webhooks: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def step_rows(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(enrollment_id, step_id) -> (status, reason) of every step."""
        return {k: (s["status"], s["reason"]) for k, s in self.steps.items()}


class FakeCustomers:
    def __init__(self, state: CampaignState) -> None:
        self._s = state

    async def upsert_profiles(self, profiles: dict[str, dict[str, Any]], now: datetime) -> None:
        for customer_id, profile in profiles.items():
            row = self._s.customers.setdefault(customer_id, {})
            row.update({f: profile[f] for f in PROFILE_FIELDS if profile.get(f) is not None})
            for f in SET_FIELDS:
                row[f] = sorted(set(row.get(f) or ()) | set(profile.get(f) or ()))

    async def record_statuses(self, changes: Sequence[StatusChange], now: datetime) -> None:
        for c in changes:
            row = self._s.customers.setdefault(c.customer_id, {})
            if supersedes(c.to, c.at, row.get("status"), row.get("status_at")):
                row.update(status=c.to, status_at=c.at, churn_reason=c.churn_reason, segment=c.segment)
                row.update(value_tier=c.value_tier, winback_eligible=c.winback_eligible)

    async def facts(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        rows = {c: self._s.customers[c] for c in set(customer_ids) if c in self._s.customers}
        return {c: {f: r.get(f) for f in ("kind", "time_zone", "state")} for c, r in rows.items()}

    async def release_candidates(self, tags: Sequence[str]) -> list[dict[str, Any]]:
        wanted = {t.lower() for t in tags}
        keys = ("segment", "value_tier", "kind", "time_zone", "state", "winback_eligible")
        return [
            {"customer_id": c, **{k: r.get(k) for k in keys}}
            for c, r in sorted(self._s.customers.items())
            if r.get("status") == "churned" and r.get("churn_reason") == "feature_gap" and wanted & set(r["wishes"])
        ]

    async def delete(self, customer_ids: Sequence[str]) -> None:
        gone = set(customer_ids)
        enrollments = {e for e, row in self._s.enrollments.items() if row["customer_id"] in gone}
        s = self._s
        s.steps = {k: v for k, v in s.steps.items() if k[0] not in enrollments}
        s.enrollments = {k: v for k, v in s.enrollments.items() if k not in enrollments}
        s.actions = {k: a for k, a in s.actions.items() if a.outcome.step.customer_id not in gone}
        s.deferred = {k: v for k, v in s.deferred.items() if v[0].data.customer_id not in gone}
        s.customers = {k: v for k, v in s.customers.items() if k not in gone}
        s.outbox = [m for m in s.outbox if m.key not in gone]


class FakeEnrollments:
    def __init__(self, state: CampaignState) -> None:
        self._s = state

    async def active(self, customer_ids: Iterable[str]) -> dict[str, ActiveEnrollment]:
        ids = set(customer_ids)
        return {
            r["customer_id"]: ActiveEnrollment(eid, r["customer_id"], r["playbook_id"], r["variant"])
            for eid, r in self._s.enrollments.items()
            if r["customer_id"] in ids and r["status"] == "active"
        }

    async def history(self, customer_ids: Iterable[str], since: datetime) -> dict[str, list[PastEnrollment]]:
        ids = set(customer_ids)
        out: dict[str, list[PastEnrollment]] = {}
        for r in self._s.enrollments.values():
            recent = r["started_at"] >= since or (r["ended_at"] is not None and r["ended_at"] >= since)
            if r["customer_id"] in ids and recent:
                past = PastEnrollment(
                    r["playbook_id"], r["holdout"], r["status"], r["exit_reason"], r["started_at"], r["ended_at"]
                )
                out.setdefault(r["customer_id"], []).append(past)
        return out

    async def of_actions(self, action_ids: Iterable[str]) -> dict[str, str]:
        actions = self._s.actions
        return {a: actions[a].outcome.step.enrollment_id for a in set(action_ids) if a in actions}

    async def record_reports(self, reports: Sequence[tuple[str, str, datetime]]) -> None:
        for action_id, outcome, at in reports:
            action, known = self._s.actions.get(action_id), self._s.reports.get(action_id)
            task = action is not None and action.outcome.status == "triggered" and action.outcome.step.channel in TASKS
            if task and (known is None or at < known[1]):
                self._s.reports[action_id] = (outcome, at)

    async def last_triggered_actions(self, enrollment_ids: Iterable[str]) -> dict[str, str]:
        ids = set(enrollment_ids)
        latest: dict[str, tuple[datetime, str]] = {}
        for action_id, a in self._s.actions.items():
            eid = a.outcome.step.enrollment_id
            if eid in ids and a.outcome.status == "triggered":
                latest[eid] = max(latest.get(eid, (a.created_at, action_id)), (a.created_at, action_id))
        return {eid: action_id for eid, (_, action_id) in latest.items()}

    async def add(self, plans: Sequence[EnrollmentPlan], exits: dict[str, str], now: datetime) -> None:
        for plan in plans:
            exit_reason = exits.get(plan.enrollment_id)
            pending = exit_reason is None and any(s.skipped_reason is None for s in plan.steps)
            status = "exited" if exit_reason else ("active" if pending else "completed")
            taken = status == "active" and plan.customer_id in await self.active([plan.customer_id])
            if plan.enrollment_id in self._s.enrollments or taken:
                continue  # ON CONFLICT DO NOTHING, the one-active-enrolment index included
            self._s.enrollments[plan.enrollment_id] = {
                "customer_id": plan.customer_id,
                "playbook_id": plan.playbook.playbook_id,
                "variant": plan.variant,
                "holdout": plan.holdout,
                "status": status,
                "exit_reason": exit_reason,
                "started_at": now,
                "ended_at": None if status == "active" else now,
                "attributed_action_id": None,
                "plan": plan,
            }
            for position, planned in enumerate(plan.steps):
                reason = exit_reason or planned.skipped_reason
                self._s.steps[(plan.enrollment_id, planned.step.step_id)] = {
                    "position": position,
                    "due_at": planned.due_at,
                    "status": "skipped" if reason else "pending",
                    "reason": reason or planned.wait_reason,
                    "action_id": None,
                    "wait_attempts": 0,
                    "planned": planned,
                }

    async def exit(self, exits: dict[str, str], now: datetime, attributed: dict[str, str] | None = None) -> None:
        for eid, reason in exits.items():
            row = self._s.enrollments.get(eid)
            if row is not None and row["status"] == "active":
                row.update(status="exited", exit_reason=reason, ended_at=now)
                row["attributed_action_id"] = (attributed or {}).get(eid)
            for (step_eid, _), step in self._s.steps.items():
                if step_eid == eid and step["status"] == "pending":
                    step.update(status="skipped", reason=reason)

    async def complete_finished(self, enrollment_ids: Iterable[str], now: datetime) -> None:
        for eid in set(enrollment_ids):
            row = self._s.enrollments.get(eid)
            pending = any(k[0] == eid and s["status"] == "pending" for k, s in self._s.steps.items())
            if row is not None and row["status"] == "active" and not pending:
                row.update(status="completed", ended_at=now)

    async def lock_status(self, enrollment_id: str) -> str | None:
        row = self._s.enrollments.get(enrollment_id)
        return None if row is None else str(row["status"])

    async def action_origin(self, action_id: str) -> tuple[str, ActiveEnrollment] | None:
        action = self._s.actions.get(action_id)
        if action is None:
            return None
        s = action.outcome.step
        return s.channel, ActiveEnrollment(s.enrollment_id, s.customer_id, s.playbook_id, s.variant)


class FakeSteps:
    def __init__(self, state: CampaignState) -> None:
        self._s = state

    async def claim_due(self, *, now: datetime, address_grace: timedelta, limit: int) -> list[DueStep]:
        due = []
        for (eid, _), step in self._s.steps.items():
            enrollment = self._s.enrollments[eid]
            profile = self._s.customers.get(enrollment["customer_id"], {})
            channel = step["planned"].step.channel
            waits_for_address = channel == "email" and not profile.get("email") and step["due_at"] > now - address_grace
            ready = step["status"] == "pending" and step["due_at"] <= now and enrollment["status"] == "active"
            if ready and not waits_for_address:
                due.append((step["due_at"], eid, step["position"], self._due_step(eid, step, profile)))
        return [d for *_, d in sorted(due, key=lambda d: d[:3])[:limit]]

    def _due_step(self, eid: str, row: dict[str, Any], profile: dict[str, Any]) -> DueStep:
        enrollment, step = self._s.enrollments[eid], row["planned"].step
        plan: EnrollmentPlan = enrollment["plan"]
        return DueStep(
            enrollment_id=eid,
            step_id=step.step_id,
            customer_id=enrollment["customer_id"],
            playbook_id=enrollment["playbook_id"],
            variant=enrollment["variant"],
            channel=step.channel,
            template=step.template,
            offer=step.offer,
            offer_category=step.offer_category,
            due_at=row["due_at"],
            recipient=Recipient(
                **{f: profile.get(f) for f in ("name", "email", "language", "kind", "phone", "postal_address")},
                account_manager=profile.get("account_manager"),
                categories=tuple(profile.get("categories") or ()),
            ),
            assignee=step.assignee,
            churn_reason=plan.churn_reason,
            feature=plan.feature,
            time_zone=profile.get("time_zone"),
            state=profile.get("state"),
            caused_by=plan.caused_by,
            wait_attempts=row["wait_attempts"],
        )

    async def recent_contacts(self, customer_ids: Iterable[str], since: datetime) -> dict[str, list[datetime]]:
        ids = set(customer_ids)
        out: dict[str, list[datetime]] = {}
        for a in self._s.actions.values():
            if a.outcome.step.customer_id in ids and a.outcome.status == "triggered" and a.created_at > since:
                out.setdefault(a.outcome.step.customer_id, []).append(a.created_at)
        return out

    async def hold(self, holds: Sequence[tuple[str, str, datetime, str]]) -> None:
        for eid, step_id, due, reason in holds:
            step = self._s.steps[(eid, step_id)]
            if step["status"] == "pending":
                step.update(due_at=due, reason=reason, wait_attempts=step["wait_attempts"] + 1)

    async def reschedule(self, moves: Sequence[tuple[str, str, datetime, str]]) -> None:
        for eid, step_id, due, reason in moves:
            self._s.steps[(eid, step_id)].update(due_at=due, reason=reason)

    async def record_actions(self, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
        for o in outcomes:
            self._s.actions.setdefault(o.action_id, Action(o, now))

    async def settle(self, outcomes: Sequence[tuple[str, str, str, str | None, str]]) -> None:
        for eid, step_id, status, reason, action_id in outcomes:
            self._s.steps[(eid, step_id)].update(status=status, reason=reason, action_id=action_id)


class FakeDeferredChanges:
    def __init__(self, state: CampaignState) -> None:
        self._s = state

    async def defer(self, changes: Sequence[CustomerStatusChanged], now: datetime) -> None:
        for event in changes:
            self._s.deferred.setdefault(event.identity, (event, now))

    async def release(self, expired: datetime) -> list[CustomerStatusChanged]:
        def ready(event: CustomerStatusChanged, received_at: datetime) -> bool:
            cause = event.data.caused_by
            assert cause is not None
            return (cause.source, cause.id) in self._s.processed or received_at <= expired

        released = [(at, e) for e, at in self._s.deferred.values() if ready(e, at)]
        for _, event in released:
            del self._s.deferred[event.identity]
        return [e for _, e in sorted(released, key=lambda r: (r[0], r[1].time))]


class FakePlaybooks:
    def __init__(self, state: CampaignState) -> None:
        self._s = state

    async def latest_documents(self) -> list[dict[str, Any]]:
        return list(self._s.playbook_documents)


class FakeWebhooks:
    def __init__(self, state: CampaignState) -> None:
        self._s = state

    async def add(self, rows: Sequence[tuple[str, str, str, bytes]], now: datetime) -> None:
        self._s.webhooks.extend(rows)


class FakeCampaignUnitOfWork(FakeUnitOfWork[CampaignState]):
    def _bind(self, work: CampaignState) -> None:
        self.customers = FakeCustomers(work)
        self.enrollments = FakeEnrollments(work)
        self.steps = FakeSteps(work)
        self.deferred = FakeDeferredChanges(work)
        self.playbooks = FakePlaybooks(work)
        self.webhooks = FakeWebhooks(work)


def campaign_store() -> Store[CampaignState]:
    return Store(CampaignState())


class ScriptedConsent:
    """Answers each request by the customer's entry in `answers` (default: allowed); can be down."""

    def __init__(self, answers: dict[str, ConsentDecision] | None = None) -> None:
        self.answers = answers or {}
        self.down = False
        self.asked: list[ConsentRequest] = []

    async def decide(self, requests: Sequence[ConsentRequest]) -> dict[str, ConsentDecision]:
        if self.down:
            raise ConsentUnavailable("consent is down")
        self.asked.extend(requests)
        allowed = ConsentDecision(True, "express_consent", None, ("ev-1",))
        return {r.request_id: self.answers.get(r.customer_id, allowed) for r in requests}

    async def close(self) -> None:
        return None
