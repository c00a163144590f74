"""The playbooks shipped with the service, loaded and validated from the package's YAML."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from winback_campaign.domain.playbooks import Playbook


# One set for every environment: the spec's timing windows and channel mix, 10 % holdout. A demo or
# test that needs an immediate step defines its own playbook with PUT /v1/playbooks/{id}.
@cache
def shipped_playbooks() -> tuple[Playbook, ...]:
    """The shipped defaults, validated."""
    text = resources.files("winback_campaign.defaults").joinpath("playbooks.yaml").read_text("utf-8")
    return tuple(Playbook.model_validate(doc) for doc in yaml.safe_load(text))


BUILTIN_PLAYBOOKS: tuple[Playbook, ...] = shipped_playbooks()
WINBACK_BASIC: Playbook = next(p for p in BUILTIN_PLAYBOOKS if p.playbook_id == "winback-basic")
