"""The playbooks shipped with the service, loaded and validated from the package's YAML."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml

from winback_campaign.domain.playbooks import Playbook

# `default`: the spec's timing windows and channel mix, 10 % holdout. `immediate`: one e-mail at
# once for every status, no holdout - for demos and end-to-end tests that must see an action now.
PlaybookSet = Literal["default", "immediate"]
FILES = {"default": "playbooks.yaml", "immediate": "playbooks-immediate.yaml"}


@cache
def shipped_playbooks(name: PlaybookSet = "default") -> tuple[Playbook, ...]:
    text = resources.files("winback_campaign.defaults").joinpath(FILES[name]).read_text("utf-8")
    return tuple(Playbook.model_validate(doc) for doc in yaml.safe_load(text))


BUILTIN_PLAYBOOKS: tuple[Playbook, ...] = shipped_playbooks()
WINBACK_BASIC: Playbook = next(p for p in BUILTIN_PLAYBOOKS if p.playbook_id == "winback-basic")
