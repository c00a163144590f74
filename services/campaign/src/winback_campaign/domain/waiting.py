"""Steps consent cannot decide yet (it has not applied their cause): kept pending, asked again later (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from winback_campaign.domain.actions import ConsentDecision, DueStep

# Consent answered "not yet": it has not applied the cause.
CONSENT_NOT_YET = "consent_not_yet_applied"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential: `base` x 2^attempts, at most `ceiling`."""

    base: timedelta = timedelta(seconds=1)
    ceiling: timedelta = timedelta(seconds=60)

    def retry_at(self, now: datetime, attempts: int) -> datetime:
        """When a step kept pending `attempts` times before is asked again."""
        return now + min(self.base * (1 << min(attempts, 20)), self.ceiling)


Hold = tuple[DueStep, datetime, str]


def split_not_yet(
    steps: Sequence[DueStep],
    decisions: Mapping[str, ConsentDecision],
    action_ids: Mapping[int, str],
    now: datetime,
    backoff: Backoff,
) -> tuple[list[DueStep], list[Hold]]:
    """The steps to settle on consent's answer, and those held because consent answered "not yet"."""
    settle: list[DueStep] = []
    held: list[Hold] = []
    for step in steps:
        decision = decisions.get(action_ids[id(step)])
        if decision is not None and decision.pending:
            held.append((step, backoff.retry_at(now, step.wait_attempts), CONSENT_NOT_YET))
        else:
            settle.append(step)
    return settle, held
