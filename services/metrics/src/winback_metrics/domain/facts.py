"""Turning consumed events into the facts the KPIs are computed from (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import (
    ActionSuppressed,
    ActionTriggered,
    CampaignEnrolled,
    CampaignExited,
    CustomerStatusChanged,
)


@dataclass(frozen=True, slots=True)
class Churn:
    customer_id: str
    churned_at: datetime
    churn_reason: str | None
    winback_eligible: bool
    segment: str | None
    value_tier: str | None


@dataclass(frozen=True, slots=True)
class Return:
    customer_id: str
    returned_at: datetime


@dataclass(frozen=True, slots=True)
class Action:
    action_id: str
    customer_id: str
    status: str
    channel: str
    template: str | None
    variant: str | None
    reason: str | None
    playbook_id: str
    enrollment_id: str
    cost: Decimal
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Enrollment:
    enrollment_id: str
    customer_id: str
    playbook_id: str
    variant: str | None
    reason: str | None
    at: datetime


@dataclass(slots=True)
class Facts:
    churns: list[Churn] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    enrolled: list[Enrollment] = field(default_factory=list)
    exited: list[Enrollment] = field(default_factory=list)


def action_cost(channel: str, costs: Mapping[str, Decimal], default: Decimal) -> Decimal:
    """What sending one action on `channel` costs; suppressed actions are never priced."""
    return costs.get(channel, default)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def facts_of(events: Sequence[CloudEvent], costs: Mapping[str, Decimal], default_cost: Decimal) -> Facts:
    """Sort a batch into facts; event types metrics does not measure are skipped."""
    facts = Facts()
    for event in events:
        if isinstance(event, CustomerStatusChanged):
            d = event.data
            if d.to == "churned":
                facts.churns.append(
                    Churn(d.customer_id, d.at, d.churn_reason, d.winback_eligible, d.segment, d.value_tier)
                )
            elif d.to == "won_back":
                facts.returns.append(Return(d.customer_id, d.at))
        elif isinstance(event, ActionTriggered):
            t = event.data
            facts.actions.append(
                Action(
                    t.action_id,
                    t.customer_id,
                    "triggered",
                    t.channel,
                    t.template,
                    t.variant,
                    None,
                    t.playbook_id,
                    t.enrollment_id,
                    action_cost(t.channel, costs, default_cost),
                    event.time,
                )
            )
        elif isinstance(event, ActionSuppressed):
            s = event.data
            # Suppressed carries no template or variant in the contract; take them when sent anyway.
            extra = s.model_extra or {}
            facts.actions.append(
                Action(
                    s.action_id,
                    s.customer_id,
                    "suppressed",
                    s.channel,
                    _optional_str(extra.get("template")),
                    _optional_str(extra.get("variant")),
                    s.reason,
                    s.playbook_id,
                    s.enrollment_id,
                    Decimal("0"),
                    event.time,
                )
            )
        elif isinstance(event, CampaignEnrolled | CampaignExited):
            e = event.data
            target = facts.enrolled if isinstance(event, CampaignEnrolled) else facts.exited
            target.append(Enrollment(e.enrollment_id, e.customer_id, e.playbook_id, e.variant, e.reason, event.time))
    return facts
