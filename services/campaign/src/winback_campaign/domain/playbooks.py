"""Playbooks as data: what triggers an enrolment and which steps follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class Trigger:
    """The status change that enrols; empty reason/segment/tier sets match any value."""

    status: str
    churn_reasons: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    value_tiers: frozenset[str] = frozenset()

    def matches(self, *, status: str, churn_reason: str | None, segment: str | None, value_tier: str | None) -> bool:
        return (
            status == self.status
            and _allows(self.churn_reasons, churn_reason)
            and _allows(self.segments, segment)
            and _allows(self.value_tiers, value_tier)
        )


def _allows(allowed: frozenset[str], value: str | None) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True, slots=True)
class Step:
    """One contact of a sequence, `after` the trigger time."""

    step_id: str
    after: timedelta
    channel: str
    template: str
    offer: str | None = None
    offer_category: str | None = None


DEFAULT_EXIT_ON = frozenset({"won_back", "objection", "no_contact_requested"})


@dataclass(frozen=True, slots=True)
class Playbook:
    playbook_id: str
    version: int
    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    priority: int = 0
    holdout_percent: int = 0
    # Reasons that end an enrolment at once and cancel its pending steps.
    exit_on: frozenset[str] = DEFAULT_EXIT_ON

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.step_id == step_id), None)

    def as_dict(self) -> dict[str, Any]:
        """The playbook as the API shows it (durations in ISO 8601 days)."""
        return {
            "playbook_id": self.playbook_id,
            "version": self.version,
            "name": self.name,
            "priority": self.priority,
            "trigger": {
                "status": self.trigger.status,
                "churn_reasons": sorted(self.trigger.churn_reasons),
                "segments": sorted(self.trigger.segments),
                "value_tiers": sorted(self.trigger.value_tiers),
            },
            "eligibility": {"winback_eligible": True, "max_active_enrollments": 1},
            "holdout_percent": self.holdout_percent,
            "steps": [
                {
                    "step_id": s.step_id,
                    "after": _iso_duration(s.after),
                    "channel": s.channel,
                    "template": s.template,
                    "offer": s.offer,
                    "offer_category": s.offer_category,
                }
                for s in self.steps
            ],
            "exit_on": sorted(self.exit_on),
        }


def _iso_duration(delta: timedelta) -> str:
    if delta.seconds == 0 and delta.microseconds == 0:
        return f"P{delta.days}D"
    return f"P{delta.days}DT{delta.seconds}S"
