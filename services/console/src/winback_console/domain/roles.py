"""Who may use the console and what each role may do in it (roles of spec/apis.md)."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    READ = "read"  # every page
    RECORD_OUTCOME = "record_outcome"  # a call's or a letter's outcome on /today
    EDIT_PLAYBOOK = "edit_playbook"
    EXPORT = "export"  # GDPR Art. 15 export of one customer
    ERASE = "erase"  # GDPR Art. 17 erasure: consent's DELETE /v1/customers/{id} is admin only


# ingest keys publish events and nothing else: they cannot sign in to the console.
CONSOLE_ROLES = frozenset({"ops", "admin"})
_GRANTS: dict[str, frozenset[Permission]] = {
    "ops": frozenset({Permission.READ, Permission.RECORD_OUTCOME, Permission.EDIT_PLAYBOOK, Permission.EXPORT}),
    "admin": frozenset(Permission),
}


def may(role: str, permission: Permission) -> bool:
    """Whether a signed-in user of `role` may do `permission`."""
    return permission in _GRANTS.get(role, frozenset())
