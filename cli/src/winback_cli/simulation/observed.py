"""What the services did during a run, as read from their topics: actions, enrolments, status flags."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StatusFlag:
    customer_id: str
    to: str
    at: datetime
    reasons: tuple[str, ...]


@dataclass
class Observed:
    """Appended as the feed delivers; read by the report."""

    actions: list[dict[str, Any]] = field(default_factory=list)  # data of action.triggered / .suppressed
    enrollments: list[dict[str, Any]] = field(default_factory=list)  # data of campaign.enrolled
    exits: list[dict[str, Any]] = field(default_factory=list)  # data of campaign.exited
    flags: list[StatusFlag] = field(default_factory=list)  # customer.status_changed
    counts: Counter[str] = field(default_factory=Counter)

    def record(self, event: dict[str, Any]) -> None:
        """Keep one published event (unknown types are counted only)."""
        kind = str(event.get("type", ""))
        self.counts[kind] += 1
        data = event.get("data") or {}
        if kind in ("action.triggered", "action.suppressed"):
            self.actions.append({**data, "status": kind.removeprefix("action."), "time": event.get("time")})
        elif kind == "campaign.enrolled":
            self.enrollments.append(data)
        elif kind == "campaign.exited":
            self.exits.append(data)
        elif kind == "customer.status_changed":
            at = data.get("at") or event.get("time")
            self.flags.append(
                StatusFlag(str(data["customer_id"]), str(data.get("to")), _parse(at), tuple(data.get("reasons") or ()))
            )

    def triggered(self) -> list[dict[str, Any]]:
        return [a for a in self.actions if a["status"] == "triggered"]

    def suppressed(self) -> list[dict[str, Any]]:
        return [a for a in self.actions if a["status"] == "suppressed"]

    def flags_of(self, to: str) -> list[StatusFlag]:
        return [f for f in self.flags if f.to == to]


def _parse(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))
