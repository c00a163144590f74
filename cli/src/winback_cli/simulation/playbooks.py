"""Which contacts a playbook would make for one enrolment: the counterfactual of a held-out customer.

A held-out customer is never contacted; the "treated" potential outcome needs the contacts the
playbook would have made. They are derived the way campaign makes them (spec/campaign.md): each
step at `after` from the enrolment, with its variant's overrides, if its `when` matches the
customer; moved by the frequency cap (1 in 7 days, 3 in 30, counting every contact the customer
really got) and, for phone and SMS, to the next quiet-hours slot (campaign's own functions); sent
only if the simulator's consent record gives a basis at that moment (a denial for an objection ends
the enrolment); an unsubscribe, complaint, or a reply where the playbook exits on replies, ends it
when the answer arrives; and nothing is sent after the held-out enrolment really ended (superseded
by a higher-priority playbook, a return), which happens in the treated world as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_EXIT_ON = ("won_back", "objection", "unsubscribe", "reply", "re_churn")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration_days(value: str | int | float | None) -> float:
    """An ISO 8601 duration (P7D, PT12H, P1W) in days; numbers are days already."""
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value.strip().upper())
    if not match:
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return weeks * 7 + days + hours / 24 + minutes / 1440 + seconds / 86400


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step as it applies to one enrolment: when it is due after the trigger, and what it sends."""

    step_id: str
    after_days: float
    channel: str
    template: str
    offer: str | None
    offer_category: str | None


def planned_steps(
    playbook: dict[str, Any], variant: str | None, *, value_tier: str | None, kind: str, reason: str | None
) -> list[PlannedStep]:
    """The steps this customer would get, in due order (steps whose `when` does not match are left out)."""
    overrides: dict[str, Any] = {}
    for v in playbook.get("variants") or []:
        if v.get("name") == variant:
            overrides = v.get("steps") or {}
    steps = []
    for raw in playbook.get("steps") or []:
        step = {**raw, **(overrides.get(raw.get("step_id")) or {})}
        if not _matches(step.get("when") or {}, value_tier=value_tier, kind=kind, reason=reason):
            continue
        steps.append(
            PlannedStep(
                step_id=str(step.get("step_id")),
                after_days=duration_days(step.get("after")),
                channel=str(step.get("channel")),
                template=str(step.get("template")),
                offer=step.get("offer"),
                offer_category=step.get("offer_category"),
            )
        )
    return sorted(steps, key=lambda s: s.after_days)


def _matches(when: dict[str, Any], *, value_tier: str | None, kind: str, reason: str | None) -> bool:
    tiers = when.get("value_tiers")
    if tiers and value_tier not in tiers:
        return False
    kinds = when.get("kinds")
    if kinds and kind not in kinds and {"business": "b2b", "consumer": "b2c"}.get(kind) not in kinds:
        return False
    reasons = when.get("reasons")
    return not (reasons and reason not in reasons)


def exits_on(playbook: dict[str, Any]) -> tuple[str, ...]:
    """What ends an enrolment of this playbook (campaign's default when the playbook names nothing)."""
    return tuple(playbook.get("exit_on") or DEFAULT_EXIT_ON)


def counts_for_uplift(playbook: dict[str, Any] | None) -> bool:
    """Whether the metrics' uplift counts this playbook's enrolments: only those inside a churn episode.

    Playbooks triggered by `churned` (or by a release reaching churned feature-gap leavers) enrol
    churned customers; at_risk, lapsed and won_back playbooks enrol customers outside any episode.
    """
    if playbook is None:
        return True
    trigger = playbook.get("trigger") or {}
    return trigger.get("status") == "churned" or bool(trigger.get("event"))
