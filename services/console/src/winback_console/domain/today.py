"""Today's calls and letters, grouped by who does them, each with what the caller needs to know."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ASSIGNEE_ORDER = ("account_manager", "call_centre", "print_house")
OUTCOMES = ("reached", "not_reached", "declined", "objected", "won_back")


@dataclass
class TaskGroup:
    assignee: str  # account_manager | call_centre | print_house
    name: str | None  # the account manager's name, when the profile has one
    tasks: list[dict[str, Any]] = field(default_factory=list)


def evidence_for(task: dict[str, Any], consents: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ledger entries the consent basis of this task rests on (its evidence ids), as consent keeps them."""
    if not consents:
        return []
    wanted = set((task.get("consent") or {}).get("evidence_ids") or [])
    return [entry for entry in consents.get("ledger", []) if entry.get("id") in wanted]


def group_tasks(
    tasks: list[dict[str, Any]],
    profiles: dict[str, dict[str, Any] | None],
    consents: dict[str, dict[str, Any] | None],
) -> list[TaskGroup]:
    """Tasks by assignee (account managers one group each), oldest due first inside a group.

    Each task gets `value` (risk's view of the customer, or None) and `evidence` (ledger entries).
    """
    groups: dict[tuple[str, str | None], TaskGroup] = {}
    for task in sorted(tasks, key=lambda t: (t.get("due_at") or "", t["action_id"])):
        assignee = task.get("assignee") or ("print_house" if task.get("channel") == "post" else "call_centre")
        name = task.get("assignee_name") if assignee == "account_manager" else None
        group = groups.setdefault((assignee, name), TaskGroup(assignee, name))
        customer = profiles.get(task["customer_id"])
        group.tasks.append(
            {
                **task,
                "value": (customer or {}).get("value"),
                "risk_segment": (customer or {}).get("segment"),
                "evidence": evidence_for(task, consents.get(task["customer_id"])),
            }
        )

    def order(key: tuple[str, str | None]) -> tuple[int, str]:
        assignee, name = key
        rank = ASSIGNEE_ORDER.index(assignee) if assignee in ASSIGNEE_ORDER else len(ASSIGNEE_ORDER)
        return rank, name or ""

    return [groups[k] for k in sorted(groups, key=order)]
