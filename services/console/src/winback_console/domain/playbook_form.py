"""The playbook editor: a playbook as form fields, the form back as a document, campaign's 422 by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

STEP_FIELDS = ("step_id", "after", "channel", "template", "offer", "offer_category", "assignee")
TOP_FIELDS = ("name", "priority", "holdout_percent")
# Edited as one YAML text: the parts of a playbook that are nested rules rather than single values.
ADVANCED_KEYS = ("trigger", "eligibility", "variants", "exit_on")
CHANNELS = ("email", "sms", "post", "phone", "messenger", "fax", "automated_call")
ASSIGNEES = ("", "account_manager", "call_centre")
_PROBLEM = re.compile(r"(?:^|; )([A-Za-z_][\w.\-]*): ")


def _yaml(value: Any, *, one_line: bool = False) -> str:
    if value in (None, {}, []):
        return ""
    text: str = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=one_line, width=10_000)
    return text.strip()


def form_of(playbook: Mapping[str, Any]) -> dict[str, Any]:
    """The editable fields of a playbook as the form shows them (all strings)."""
    steps = []
    for step in playbook.get("steps", []):
        fields = {name: "" if step.get(name) is None else str(step.get(name)) for name in STEP_FIELDS}
        fields["when"] = _yaml(
            {k: v for k, v in (step.get("when") or {}).items() if v not in (None, [], {})}, one_line=True
        )
        steps.append(fields)
    advanced = {k: playbook[k] for k in ADVANCED_KEYS if playbook.get(k) not in (None, [], {})}
    return {
        "name": str(playbook.get("name", "")),
        "enabled": bool(playbook.get("enabled", True)),
        "priority": str(playbook.get("priority", 0)),
        "holdout_percent": str(playbook.get("holdout_percent", 10)),
        "steps": steps,
        "advanced": _yaml(advanced),
    }


def form_from_post(posted: Mapping[str, Any], step_count: int) -> dict[str, Any]:
    """The posted form as the same field structure `form_of` gives (to show it again with its errors)."""
    steps = []
    for i in range(step_count):
        fields = {name: str(posted.get(f"steps.{i}.{name}", "")).strip() for name in STEP_FIELDS}
        fields["when"] = str(posted.get(f"steps.{i}.when", ""))
        steps.append(fields)
    return {
        "name": str(posted.get("name", "")).strip(),
        "enabled": posted.get("enabled") == "on",
        "priority": str(posted.get("priority", "")).strip(),
        "holdout_percent": str(posted.get("holdout_percent", "")).strip(),
        "steps": steps,
        "advanced": str(posted.get("advanced", "")),
    }


def _number(text: str) -> Any:
    """A number when the text is one; the text itself otherwise, so campaign names the problem."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def document_of(stored: Mapping[str, Any], form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The PUT body from the stored playbook and the edited form; YAML that does not parse is a field error."""
    errors: dict[str, list[str]] = {}
    document = {k: v for k, v in stored.items() if k not in ("version", *ADVANCED_KEYS)}
    document.update(
        name=form["name"],
        enabled=form["enabled"],
        priority=_number(form["priority"]),
        holdout_percent=_number(form["holdout_percent"]),
    )
    try:
        advanced = yaml.safe_load(form["advanced"]) if form["advanced"].strip() else {}
        if not isinstance(advanced, dict):
            raise ValueError("must be a mapping of trigger, eligibility, variants, exit_on")
        unknown = set(advanced) - set(ADVANCED_KEYS)
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        document.update(advanced)
    except (yaml.YAMLError, ValueError) as exc:
        errors.setdefault("advanced", []).append(str(exc))
    steps = []
    for i, fields in enumerate(form["steps"]):
        step: dict[str, Any] = {name: fields[name] for name in STEP_FIELDS if fields[name] != ""}
        try:
            when = yaml.safe_load(fields["when"]) if fields["when"].strip() else None
            if when is not None:
                step["when"] = when
        except yaml.YAMLError as exc:
            errors.setdefault(f"steps.{i}.when", []).append(f"not YAML: {exc}")
        steps.append(step)
    document["steps"] = steps
    return document, errors


def field_of(path: str, step_count: int) -> str:
    """The form field a problem path of campaign belongs to ("form" when it has none)."""
    parts = path.split(".")
    if parts[0] in TOP_FIELDS or parts[0] == "enabled":
        return parts[0]
    if parts[0] in ADVANCED_KEYS:
        return "advanced"
    if parts[0] == "steps" and len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < step_count:
        if len(parts) >= 3 and parts[2] in (*STEP_FIELDS, "when"):
            return f"steps.{parts[1]}.{parts[2]}"
        return f"steps.{parts[1]}.step_id"
    return "form"


def problems_by_field(detail: str, step_count: int) -> dict[str, list[str]]:
    """Campaign's 422 detail (`path: message; path: message`) split onto the form's fields."""
    marks = list(_PROBLEM.finditer(detail))
    if not marks:
        return {"form": [detail]}
    problems: dict[str, list[str]] = {}
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(detail)
        message = detail[mark.end() : end].strip()
        problems.setdefault(field_of(mark.group(1), step_count), []).append(message)
    return problems
