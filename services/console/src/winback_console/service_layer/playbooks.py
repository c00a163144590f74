"""Playbooks: list, one with its enrolment preview and rendered messages, saving an edit."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from winback_console.adapters.services import ServiceGateway, ServiceRefused
from winback_console.domain.i18n import LANGUAGES

PREVIEW_SAMPLE = 20


def _pid(playbook_id: str) -> str:
    return quote(playbook_id, safe="")


async def all_playbooks(gateway: ServiceGateway, key: str) -> list[dict[str, Any]]:
    answer = await gateway.get("campaign", "/v1/playbooks", key=key)
    items: list[dict[str, Any]] = answer["items"]
    return items


async def playbook(gateway: ServiceGateway, key: str, playbook_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = await gateway.get("campaign", f"/v1/playbooks/{_pid(playbook_id)}", key=key)
    return answer


async def preview(gateway: ServiceGateway, key: str, playbook_id: str, tags: list[str]) -> dict[str, Any]:
    """Who would enrol now; a refusal (a release trigger without tags) comes back as `problem`."""
    params: dict[str, Any] = {"sample": PREVIEW_SAMPLE}
    if tags:
        params["tags"] = tags
    try:
        answer: dict[str, Any] = await gateway.get(
            "campaign", f"/v1/playbooks/{_pid(playbook_id)}/preview", key=key, params=params
        )
    except ServiceRefused as exc:
        if exc.status != 422:
            raise
        return {"problem": exc.detail, "sample": [], "count": None}
    return answer


async def render_steps(
    gateway: ServiceGateway, key: str, document: dict[str, Any], customer_id: str
) -> list[dict[str, Any]]:
    """Each step's message for the customer in every language: {step_id, de: {...} | problem, en: ...}."""

    async def one(step_id: str, language: str) -> dict[str, Any]:
        path = f"/v1/playbooks/{_pid(document['playbook_id'])}/steps/{quote(step_id, safe='')}/render"
        try:
            answer: dict[str, Any] = await gateway.call(
                "campaign", "POST", path, key=key, json={"customer_id": customer_id, "language": language}
            )
        except ServiceRefused as exc:
            if exc.status not in (404, 422):
                raise
            return {"problem": exc.detail}
        return answer

    steps = [s["step_id"] for s in document.get("steps", [])]
    answers = await asyncio.gather(*(one(s, lang) for s in steps for lang in LANGUAGES))
    rendered = []
    for i, step_id in enumerate(steps):
        by_language = dict(zip(LANGUAGES, answers[i * len(LANGUAGES) : (i + 1) * len(LANGUAGES)], strict=True))
        rendered.append({"step_id": step_id, **by_language})
    return rendered


async def save(gateway: ServiceGateway, key: str, playbook_id: str, document: dict[str, Any]) -> dict[str, Any]:
    """PUT as a new version; ServiceRefused 422 carries campaign's problem paths."""
    answer: dict[str, Any] = await gateway.call(
        "campaign", "PUT", f"/v1/playbooks/{_pid(playbook_id)}", key=key, json=document
    )
    return answer
