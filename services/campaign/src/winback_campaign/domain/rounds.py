"""Which due steps of a scheduler round go out now, and which wait for the cap or quiet hours (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from winback_campaign.domain.actions import DueStep
from winback_campaign.domain.timing import FrequencyCap, allowed_at


@dataclass
class RoundPlan:
    send: list[DueStep] = field(default_factory=list)
    # (step, new due time, why it waits): moved, never dropped.
    moves: list[tuple[DueStep, datetime, str]] = field(default_factory=list)
    # Left pending as they are: a step of the same customer goes out first, the cap sees it next round.
    deferred: list[DueStep] = field(default_factory=list)


def plan_round(
    due: Sequence[DueStep], contacts: dict[str, list[datetime]], now: datetime, cap: FrequencyCap
) -> RoundPlan:
    """At most one contact per customer per round; the rest wait for the earliest allowed time."""
    plan = RoundPlan()
    sending: set[str] = set()
    for step in due:
        recent = contacts.get(step.customer_id, ())
        at, reason = allowed_at(now, step.channel, recent, cap, step.time_zone, step.state)
        if reason is not None and at > now:
            plan.moves.append((step, at, reason))
        elif step.customer_id in sending:
            plan.deferred.append(step)
        else:
            sending.add(step.customer_id)
            plan.send.append(step)
    return plan
