"""The playbooks shipped with the service (the walking skeleton ships one)."""

from __future__ import annotations

from datetime import timedelta

from winback_campaign.domain.playbooks import Playbook, Step, Trigger

# Contacts everyone eligible once, right away: the skeleton's end-to-end path. Holdout 0 %
# on purpose, so every eligible customer is contacted.
WINBACK_BASIC = Playbook(
    playbook_id="winback-basic",
    version=1,
    name="Win-back basic: one 'we miss you' e-mail",
    trigger=Trigger(status="churned"),
    steps=(Step(step_id="1", after=timedelta(days=0), channel="email", template="we_miss_you"),),
    priority=0,
    holdout_percent=0,
)

BUILTIN_PLAYBOOKS: tuple[Playbook, ...] = (WINBACK_BASIC,)
